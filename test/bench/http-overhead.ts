import { startServers, type ServerChild } from './support/children.ts';
import { load, type LoadResult } from './support/load.ts';
import { deltaMs, ms, num, ratio, table } from './support/markdown.ts';
import { dropSchema } from './support/postgres.ts';
import { median } from './support/stats.ts';
import type { ScenarioResult, TargetResult } from './support/targets.ts';
import { CONTENDER_DESCRIPTIONS, EXPRESS_CONTENDERS, HONO_CONTENDERS, type ContenderName, type ServerConfig } from './server/protocol.ts';

export interface HttpOverheadOptions {
  quick: boolean;
  /** A temporary directory for the SQLite files; the caller deletes it. */
  dir: string;
  databaseUrl: string;
  /** Progress, to stderr. */
  log: (line: string) => void;
}

/** Load levels: autocannon connections. */
export const CONNECTIONS = [100, 10] as const;

interface Run extends LoadResult {
  contender: ContenderName;
  connections: number;
  round: number;
  /** Records the store gained during the run; `null` for contenders that store nothing. */
  records: number | null;
  /** CPU time of the server process per answered request, µs (its store writes included; PostgreSQL's own work not). */
  cpuPerRequest: number;
  /** CPU time of the server's main thread (its event loop) alone per answered request, µs; `null` where the OS does not say. */
  mainCpuPerRequest: number | null;
  /** The store's batches during the run: how many, and their total and longest `append` time in ms. */
  appends: { count: number; totalMs: number; maxMs: number } | null;
}

/**
 * Scenario 1: what each middleware costs on one trivial authenticated route.
 * Every contender is its own server in a child process; autocannon runs here.
 * Per framework and load level: a warm-up of every contender, then rounds in
 * which every contender runs once, in an order rotated each round, so that
 * machine noise hits all of them alike. Ratios are taken within a round (the
 * contender against the bare framework of the same round), then the median
 * over rounds is reported.
 */
export async function benchHttpOverhead(options: HttpOverheadOptions): Promise<ScenarioResult> {
  const plan = options.quick ? { seconds: 1.2, ramp: 0.4, rounds: 1, warmup: 0.3 } : { seconds: 6, ramp: 1, rounds: 4, warmup: 2 };
  const sections: string[] = [
    '## HTTP overhead',
    '',
    `One authenticated \`POST /payments/:payment_id/refunds\` answering a small JSON object (identify returns a fixed user); ` +
      `autocannon on loopback, ${plan.rounds} round(s) of ${plan.seconds} s per contender and load level after a ${plan.warmup} s warm-up each, ` +
      `of which the first ${plan.ramp} s (autocannon opening its connections; a few connections' first requests take a second) is not measured; ` +
      'contenders alternated (order rotated every round); every server is a child process of its own. ' +
      'Ratios are to the bare framework in the same round, median over rounds; latency is of every 2xx response. ' +
      '"CPU µs/req": CPU time (user + system) of the server process per answered request over the whole run, the store writes of ' +
      "SQLite included (PostgreSQL's own processes not), a measure of the middleware's cost that the load generator sharing the machine does not cap; " +
      '"main µs/req": the same for the main thread (the event loop) alone, read from `/proc` (a store writing from a worker thread does not count here); ' +
      '"Δ" columns are against bare in the same round. ' +
      '"records / answered": records the store gained during the runs against 2xx responses the client counted ' +
      '(a record may exceed a response when the client stopped before reading it; fewer records than responses would mean lost records).',
    '',
  ];
  const targets: TargetResult[] = [];
  for (const [framework, contenders] of [
    ['Express', EXPRESS_CONTENDERS],
    ['Hono', HONO_CONTENDERS],
  ] as const) {
    const { runs, auditErrors } = await benchFramework(framework.toLowerCase(), contenders, plan, options);
    const { markdown, targets: frameworkTargets } = report(framework, contenders, runs);
    sections.push(markdown, '');
    for (const [contender, errors] of auditErrors) {
      sections.push(
        `**\`${contender}\`: the auditor reported errors ${JSON.stringify(errors)}: the store did not keep up, records were dropped, ` +
          'and its req/s above is not comparable (less work was done).**',
        '',
      );
    }
    targets.push(...frameworkTargets);
  }
  sections.push(
    'Contenders:',
    '',
    ...[...EXPRESS_CONTENDERS, ...HONO_CONTENDERS].map((c) => `- \`${c}\`: ${CONTENDER_DESCRIPTIONS[c]}`),
    '',
    'pino-http is Express middleware; the Hono table has `hono/logger` in its place.',
  );
  return { markdown: sections.join('\n'), targets };
}

async function benchFramework(
  framework: string,
  contenders: readonly ContenderName[],
  plan: { seconds: number; ramp: number; rounds: number; warmup: number },
  options: HttpOverheadOptions,
): Promise<{ runs: Run[]; auditErrors: Map<ContenderName, Record<string, number>> }> {
  const pgSchema = `audit_bench_http_${framework}`;
  await dropSchema(options.databaseUrl, pgSchema);
  const configs: ServerConfig[] = contenders.map((contender) => ({ contender, dir: options.dir, databaseUrl: options.databaseUrl, pgSchema }));
  const runs: Run[] = [];
  const auditErrors = new Map<ContenderName, Record<string, number>>();
  let servers: ServerChild[] = [];
  try {
    servers = await startServers(configs);
    for (const connections of CONNECTIONS) {
      options.log(`http: ${framework}, ${connections} connections: warm-up`);
      for (const server of servers) await load({ url: server.url, connections, seconds: plan.warmup });
      for (let round = 0; round < plan.rounds; round++) {
        options.log(`http: ${framework}, ${connections} connections: round ${round + 1}/${plan.rounds}`);
        for (let i = 0; i < servers.length; i++) {
          const server = servers[(i + round) % servers.length]!;
          const before = await server.request('count');
          const result = await load({ url: server.url, connections, seconds: plan.seconds, rampSeconds: plan.ramp });
          // Requests the client cut off at the end may still be finishing on the server.
          await new Promise((resolve) => setTimeout(resolve, 100));
          const after = await server.request('count');
          const records = before.records === null || after.records === null ? null : after.records - before.records;
          const cpuPerRequest = (after.cpuMicros - before.cpuMicros) / result.ok;
          const mainCpuPerRequest =
            before.mainThreadCpuMicros === null || after.mainThreadCpuMicros === null
              ? null
              : (after.mainThreadCpuMicros - before.mainThreadCpuMicros) / result.ok;
          const appends =
            before.appends && after.appends
              ? { count: after.appends.count - before.appends.count, totalMs: after.appends.totalMs - before.appends.totalMs, maxMs: after.appends.maxMs }
              : null;
          runs.push({ ...result, contender: server.config.contender, connections, round, records, cpuPerRequest, mainCpuPerRequest, appends });
        }
      }
    }
    for (const server of servers) {
      const { errors } = await server.request('count');
      if (Object.keys(errors).length > 0) auditErrors.set(server.config.contender, errors);
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await dropSchema(options.databaseUrl, pgSchema).catch(() => undefined);
  }
  return { runs, auditErrors };
}

const signed = (value: number): string => `${value >= 0 ? '+' : '−'}${num(Math.abs(value))}`;

/**
 * The request-path targets, at 100 connections: Express + audit-trail adds at
 * most 15 µs of main-thread CPU per request and serves at least pino-http's
 * req/s; Hono + audit-trail keeps at least 80% of bare Hono's req/s. Checked
 * for the SQLite contender and, to show the request path's own cost with no
 * store work, for the counting one.
 */
function requestPathTargets(framework: string, contender: ContenderName, runs: Run[], bareName: ContenderName): TargetResult[] {
  const at100 = runs.filter((r) => r.connections === 100);
  const mine = at100.filter((r) => r.contender === contender);
  const sameRound = (name: string, round: number) => at100.find((r) => r.contender === name && r.round === round);
  const store = contender.endsWith(':audit-count') ? 'a counting store, no I/O' : 'SQLite';
  const targets: TargetResult[] = [];
  if (framework === 'Express') {
    const added = mine.every((r) => r.mainCpuPerRequest !== null && sameRound(bareName, r.round)?.mainCpuPerRequest != null)
      ? median(mine.map((r) => r.mainCpuPerRequest! - sameRound(bareName, r.round)!.mainCpuPerRequest!))
      : null;
    targets.push({
      target: `Express + audit-trail (${store}) adds ≤ 15 µs of main-thread CPU per request over bare (100 connections)`,
      measured: added === null ? 'not measured (no /proc)' : `${signed(added)} µs`,
      met: added !== null && added <= 15,
    });
    const vsPino = mine.filter((r) => sameRound('express:pino-http', r.round)).map((r) => r.rps / sameRound('express:pino-http', r.round)!.rps);
    if (vsPino.length > 0) {
      targets.push({
        target: `Express + audit-trail (${store}) serves ≥ pino-http's req/s in the same round (100 connections)`,
        measured: `${ratio(median(vsPino))} pino-http`,
        met: median(vsPino) >= 1,
      });
    }
  } else {
    const vsBare = mine.filter((r) => sameRound(bareName, r.round)).map((r) => r.rps / sameRound(bareName, r.round)!.rps);
    targets.push({
      target: `Hono + audit-trail (${store}) keeps ≥ 80% of bare Hono's req/s (100 connections)`,
      measured: `${(median(vsBare) * 100).toFixed(1)}%`,
      met: median(vsBare) >= 0.8,
    });
  }
  return targets;
}

function report(framework: string, contenders: readonly ContenderName[], runs: Run[]): ScenarioResult {
  const rows: string[][] = [];
  const targets: TargetResult[] = [];
  const bareName = contenders[0]!;
  for (const connections of CONNECTIONS) {
    const bare = runs.filter((r) => r.contender === bareName && r.connections === connections);
    const bareOf = (round: number) => bare.find((b) => b.round === round)!;
    for (const contender of contenders) {
      const mine = runs.filter((r) => r.contender === contender && r.connections === connections);
      const rpsRatio = median(mine.map((r) => r.rps / bareOf(r.round).rps));
      const p50Ratio = median(mine.map((r) => r.p50 / bareOf(r.round).p50));
      const p99Ratio = median(mine.map((r) => r.p99 / bareOf(r.round).p99));
      const p99Added = median(mine.map((r) => r.p99 - bareOf(r.round).p99));
      const cpu = median(mine.map((r) => r.cpuPerRequest));
      const cpuAdded = median(mine.map((r) => r.cpuPerRequest - bareOf(r.round).cpuPerRequest));
      const hasMain = mine.every((r) => r.mainCpuPerRequest !== null && bareOf(r.round).mainCpuPerRequest !== null);
      const mainCpu = hasMain ? median(mine.map((r) => r.mainCpuPerRequest!)) : null;
      const mainAdded = hasMain ? median(mine.map((r) => r.mainCpuPerRequest! - bareOf(r.round).mainCpuPerRequest!)) : null;
      const failures = mine.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0);
      const ok = mine.reduce((n, r) => n + r.ok, 0);
      let stored = '–';
      if (mine[0]?.records !== null && mine[0]?.records !== undefined) {
        const records = mine.reduce((n, r) => n + (r.records ?? 0), 0);
        // Every answered request is stored; a request cut off at the end of a run may be stored without an answer.
        const complete = mine.every((r) => r.records! >= r.ok && r.records! <= r.sent);
        const missing = mine.reduce((n, r) => n + Math.max(0, r.ok - r.records!), 0);
        stored = `${num(records)} / ${num(ok)} ${complete ? '(none lost)' : missing > 0 ? `**(${num(missing)} not stored)**` : '**(more records than requests sent)**'}`;
      }
      rows.push([
        String(connections),
        `\`${contender}\``,
        num(median(mine.map((r) => r.rps))),
        ratio(rpsRatio),
        ms(median(mine.map((r) => r.p50))),
        ratio(p50Ratio),
        ms(median(mine.map((r) => r.p99))),
        ratio(p99Ratio),
        contender === bareName ? '' : deltaMs(p99Added),
        num(cpu),
        contender === bareName ? '' : signed(cpuAdded),
        mainCpu === null ? '–' : num(mainCpu),
        contender === bareName || mainAdded === null ? '' : signed(mainAdded),
        stored,
        failures === 0 ? '0' : `**${num(failures)}**`,
      ]);
      if (connections === 100 && contender.endsWith(':audit-sqlite')) {
        targets.push(
          {
            target: `${framework} + audit-trail (SQLite) keeps ≥ 95% of bare req/s at 100 connections`,
            measured: `${(rpsRatio * 100).toFixed(1)}%`,
            met: rpsRatio >= 0.95,
          },
          {
            target: `${framework} + audit-trail (SQLite) adds ≤ 1 ms to p99 at 100 connections`,
            measured: `${deltaMs(p99Added)} ms (p99 ${ms(median(mine.map((r) => r.p99)))} vs ${ms(median(bare.map((r) => r.p99)))} ms)`,
            met: p99Added <= 1,
          },
        );
      }
    }
  }
  for (const contender of contenders) {
    if (contender.endsWith(':audit-sqlite') || contender.endsWith(':audit-count')) targets.push(...requestPathTargets(framework, contender, runs, bareName));
  }
  const batchRows: string[][] = [];
  for (const connections of CONNECTIONS) {
    for (const contender of contenders) {
      const mine = runs.filter((r) => r.contender === contender && r.connections === connections && r.appends);
      if (mine.length === 0) continue;
      const count = mine.reduce((n, r) => n + r.appends!.count, 0);
      const totalMs = mine.reduce((n, r) => n + r.appends!.totalMs, 0);
      const records = mine.reduce((n, r) => n + (r.records ?? 0), 0);
      batchRows.push([
        String(connections),
        `\`${contender}\``,
        num(count),
        num(records / count, 1),
        ms(totalMs / count),
        // The longest over the whole life of the server, up to the last of these runs.
        ms(Math.max(...mine.map((r) => r.appends!.maxMs))),
      ]);
    }
  }
  const markdown = [
    `### ${framework}`,
    '',
    table(
      [
        'conns',
        'contender',
        'req/s',
        '× bare',
        'p50 ms',
        '× bare',
        'p99 ms',
        '× bare',
        'Δp99 ms',
        'CPU µs/req',
        'Δ µs/req',
        'main µs/req',
        'Δ main',
        'records / answered',
        'non-2xx+errors',
      ],
      rows,
      ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `The audited contenders' store writes during those runs (the auditor writes one batch at a time, up to 100 records):`,
    '',
    table(['conns', 'contender', 'batches', 'records per batch', 'ms per append', 'longest append ms'], batchRows, ['r', 'l', 'r', 'r', 'r', 'r']),
  ].join('\n');
  return { markdown, targets };
}
