/**
 * `pnpm bench`: what the audit trail costs, measured side by side.
 *
 *   pnpm bench                      every scenario, full length (about 17 minutes on 2 cores)
 *   pnpm bench --quick              every scenario, briefly (CI: checks the suite still works)
 *   pnpm bench --out report.md      also write the report to a file
 *   pnpm bench --only http,query    some scenarios: http, write, query, stats, memory, chain, redact, prune, writer
 *   pnpm bench --profile express:audit-sqlite [--seconds 10]
 *                                   CPU-profile one contender's server under load; prints its top functions
 *
 * Prints one Markdown report to stdout; progress goes to stderr. Uses
 * `DATABASE_URL` when set, else starts (and stops) an embedded PostgreSQL.
 * Timing targets are reported, never asserted.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchHttpOverhead } from './http-overhead.ts';
import { benchMemory } from './memory.ts';
import { benchPrune } from './prune-bench.ts';
import { profileContender } from './profile.ts';
import { benchQueryCost } from './query-cost.ts';
import { benchRedaction } from './redaction.ts';
import { benchStatsCost } from './stats-cost.ts';
import { EXPRESS_CONTENDERS, HONO_CONTENDERS, type ContenderName } from './server/protocol.ts';
import { benchSqliteWriter } from './sqlite-writer.ts';
import { benchStoreWrite } from './store-write.ts';
import { killAllChildren } from './support/children.ts';
import { machineDescription } from './support/machine.ts';
import { startPostgres, type BenchPostgres } from './support/postgres.ts';
import { targetTable, type ScenarioResult, type TargetResult } from './support/targets.ts';

const SCENARIOS = ['http', 'write', 'query', 'stats', 'memory', 'chain', 'redact', 'prune', 'writer'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'string' },
    seconds: { type: 'string' },
  },
  strict: true,
});
const quick = values.quick ?? false;
const only = new Set<Scenario>(
  values.only
    ? values.only.split(',').map((name) => {
        if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`--only: unknown scenario "${name}" (known: ${SCENARIOS.join(', ')})`);
        return name as Scenario;
      })
    : SCENARIOS,
);

const log = (line: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
const started = performance.now();
const dir = mkdtempSync(join(tmpdir(), 'audit-trail-bench-'));
let postgres: BenchPostgres | undefined;

let cleaned: Promise<void> | undefined;
/** Child servers, the PostgreSQL server and the temporary files: on success, failure or a signal. */
const cleanup = () =>
  (cleaned ??= (async () => {
    killAllChildren();
    await postgres?.stop().catch((error: unknown) => log(`could not stop PostgreSQL: ${String(error)}`));
    rmSync(dir, { recursive: true, force: true });
  })());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  if (values.profile) {
    const contender = values.profile as ContenderName;
    if (![...EXPRESS_CONTENDERS, ...HONO_CONTENDERS].includes(contender as never)) {
      throw new Error(`--profile: unknown contender "${contender}" (known: ${[...EXPRESS_CONTENDERS, ...HONO_CONTENDERS].join(', ')})`);
    }
    if (contender.endsWith('postgres')) postgres = await startPostgres();
    const report = await profileContender({
      contender,
      dir,
      databaseUrl: postgres?.url,
      seconds: Number(values.seconds ?? (quick ? 3 : 10)),
      log,
    });
    output(report);
  } else {
    output(await benchAll());
  }
} finally {
  await cleanup();
  log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function benchAll(): Promise<string> {
  const machine = machineDescription();
  log(quick ? 'quick run: every scenario, briefly' : 'full run');
  const needsPostgres = only.has('http') || only.has('write') || only.has('query') || only.has('stats') || only.has('chain');
  if (needsPostgres) {
    postgres = await startPostgres();
    log(`PostgreSQL: ${postgres.version}`);
  }
  const results: ScenarioResult[] = [];
  const databaseUrl = postgres?.url ?? '';
  /** Runs one scenario; a failure becomes a section of the report (and the exit code), and the others still run. */
  const scenario = async (name: Scenario, title: string, run: () => Promise<ScenarioResult | null>) => {
    if (!only.has(name)) return;
    try {
      const result = await run();
      if (result) results.push(result);
    } catch (error) {
      process.exitCode = 1;
      log(`${name}: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      results.push({ markdown: `## ${title}\n\n**This scenario failed:** ${error instanceof Error ? error.message : String(error)}`, targets: [] });
    }
  };
  await scenario('http', 'HTTP overhead', () => benchHttpOverhead({ quick, dir, databaseUrl, log }));
  await scenario('write', 'Store write throughput', () => benchStoreWrite({ quick, dir, databaseUrl, log }));
  await scenario('query', 'Query cost', () => benchQueryCost({ quick, dir, databaseUrl, log }));
  await scenario('stats', 'Stats cost', () => benchStatsCost({ quick, dir, databaseUrl, log }));
  await scenario('memory', 'Memory', () => benchMemory({ quick, dir, log }));
  await scenario('redact', 'Redaction cost', () => benchRedaction({ quick }));
  await scenario('prune', 'Retention', () => benchPrune({ quick, dir, log }));
  await scenario('writer', 'SQLite writer thread', () => benchSqliteWriter({ quick, dir, log }));
  await scenario('chain', 'Hash chain', async () => {
    const chain = await benchChainIfPresent(databaseUrl);
    return chain ? { markdown: chain, targets: [] } : null;
  });

  const targets: TargetResult[] = results.flatMap((r) => r.targets);
  const elapsed = (performance.now() - started) / 1000;
  return [
    `# audit-trail benchmarks${quick ? ' (quick run)' : ''}`,
    '',
    quick
      ? '_A quick run: every scenario briefly, to check the suite works. Its numbers are noisy and its query scenario has 20,000 records, not 1,000,000; see a full run for the targets._'
      : '',
    '## Machine',
    '',
    ...machine.map((line) => `- ${line}`),
    postgres ? `- PostgreSQL: ${postgres.version}, ${postgres.description}` : '',
    `- Scenarios: ${[...only].join(', ')}; elapsed ${elapsed.toFixed(1)} s (until the report; then the servers are stopped); load average at the end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    '',
    '## Targets',
    '',
    targets.length > 0 ? targetTable(targets) : '_No scenario with a target ran._',
    '',
    ...results.flatMap((r) => [r.markdown, '']),
  ]
    .filter((line, i, lines) => !(line === '' && lines[i - 1] === ''))
    .join('\n');
}

/** The hash-chain bench (`chain-bench.ts`, delivered separately), when it exists. */
async function benchChainIfPresent(databaseUrl: string): Promise<string | null> {
  const file = new URL('./chain-bench.ts', import.meta.url);
  if (!existsSync(file)) {
    log('chain: test/bench/chain-bench.ts is not there yet; skipped');
    return null;
  }
  log('chain: running benchChain');
  const module = (await import(file.href)) as { benchChain?: (options: { quick: boolean; databaseUrl?: string }) => Promise<string> };
  if (typeof module.benchChain !== 'function') throw new Error('test/bench/chain-bench.ts does not export benchChain');
  return module.benchChain({ quick, ...(databaseUrl ? { databaseUrl } : {}) });
}

function output(report: string): void {
  process.stdout.write(`${report}\n`);
  if (values.out) {
    writeFileSync(values.out, `${report}\n`);
    log(`report written to ${values.out}`);
  }
}
