/**
 * Retention: pruning the oldest records of a SQLite trail with
 * `audit-trail prune` (a process of its own, as an operator runs it) while
 * the app keeps appending to the same file. Called by `test/bench/run.ts`
 * (scenario `prune`).
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verify, type AuditRecord } from '@audit-trail/core';
import { nodeChainHasher, sqliteStore } from '@audit-trail/sqlite';
import { num, table } from './support/markdown.ts';
import { writeRecords } from './support/records.ts';
import type { ScenarioResult } from './support/targets.ts';

export interface PruneBenchOptions {
  quick: boolean;
  dir: string;
  log: (line: string) => void;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const MAIN = join(ROOT, 'packages/cli/src/main.ts');
const DAY = 86_400_000;
const SIGNING_KEY = 'prune-bench-bundle-signing-key-!';

/** `count` records from `start`, created `ageDays` ago (one a millisecond), over 20 accounts. */
function aged(count: number, start: number, ageDays: number): AuditRecord[] {
  const base = Date.now() - ageDays * DAY;
  return writeRecords(count, start).map((record, k) => ({ ...record, created: new Date(base + start + k).toISOString() }));
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

/** The app: one append of 10 records every 5 ms, each append's time recorded, until stopped. */
function appWriter(store: ReturnType<typeof sqliteStore>) {
  const latencies: number[] = [];
  let running = true;
  let appended = 0;
  const done = (async () => {
    while (running) {
      const batch = aged(10, 50_000_000 + appended, 1);
      const started = performance.now();
      await store.append(batch);
      latencies.push(performance.now() - started);
      appended += batch.length;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      const sorted = [...latencies].sort((a, b) => a - b);
      return { appended, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? 0 };
    },
  };
}

export async function benchPrune(options: PruneBenchOptions): Promise<ScenarioResult> {
  const total = options.quick ? 50_000 : 1_000_000;
  const file = join(options.dir, 'prune.db');
  const archive = join(options.dir, 'prune-archive.ndjson');
  const store = sqliteStore({ database: file });
  options.log(`prune: loading ${num(total)} records two years old`);
  for (let at = 0; at < total; at += 5000) await store.append(aged(5000, at, 730));

  // The app's append latency alone, then beside the prune.
  const alone = appWriter(store);
  await new Promise((resolve) => setTimeout(resolve, options.quick ? 1000 : 5000));
  const baseline = await alone.stop();

  options.log(`prune: pruning ${num(total)} records with audit-trail prune while the app appends`);
  const beside = appWriter(store);
  const started = performance.now();
  const cli = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(
      TSX,
      [MAIN, 'prune', '--store', `sqlite:${file}`, '--before', new Date(Date.now() - 400 * DAY).toISOString(), '--archive', archive, '--signing-key-env', 'BENCH_BUNDLE_KEY'],
      { cwd: ROOT, env: { ...process.env, BENCH_BUNDLE_KEY: SIGNING_KEY }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  const seconds = (performance.now() - started) / 1000;
  const during = await beside.stop();
  if (cli.code !== 0) throw new Error(`audit-trail prune exited ${cli.code}: ${cli.stderr || cli.stdout}`);
  const pruned = Number(/pruned ([\d,]+) record/.exec(cli.stdout)?.[1]?.replaceAll(',', '') ?? NaN);
  if (pruned !== total) throw new Error(`audit-trail prune pruned ${pruned} records, not ${total}: ${cli.stdout}`);

  const verifyStarted = performance.now();
  const result = await verify(store, { hasher: nodeChainHasher() });
  const verifySeconds = (performance.now() - verifyStarted) / 1000;
  await store.close();
  if (!result.ok) throw new Error(`the pruned chain does not verify: ${result.message}`);
  const left = baseline.appended + during.appended;
  if (result.verified !== left) throw new Error(`${result.verified} records verified after the prune, ${left} expected`);
  const archiveMb = statSync(archive).size / 1e6;

  const ms = (value: number) => `${value.toFixed(1)} ms`;
  return {
    markdown: [
      `## Retention: pruning ${num(total)} records while the app writes`,
      '',
      `\`audit-trail prune\` (its own process) archives ${num(total)} two-year-old records of 20 accounts into a signed evidence bundle, ` +
        're-reads and checks the bundle, then deletes the records in batches of 1,000, while the app (this process, its own connection) ' +
        'appends 10 records every 5 ms to the same SQLite file. `verify` passes afterwards.',
      '',
      table(
        ['measure', 'value'],
        [
          ['prune, end to end (archive + check + delete)', `${seconds.toFixed(1)} s (${num(Math.round(total / seconds))} records/s)`],
          ['evidence bundle', `${archiveMb.toFixed(0)} MB`],
          ['app appends (10 records) alone: p50 / p99 / max', `${ms(baseline.p50)} / ${ms(baseline.p99)} / ${ms(baseline.max)}`],
          ['app appends beside the prune: p50 / p99 / max', `${ms(during.p50)} / ${ms(during.p99)} / ${ms(during.max)}`],
          ['records the app appended during the prune (all stored)', num(during.appended)],
          ['verify after the prune', `${num(result.verified)} records in ${verifySeconds.toFixed(1)} s, intact, each chain from its prune anchor`],
        ],
      ),
    ].join('\n'),
    targets: [],
  };
}
