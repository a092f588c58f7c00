import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createAuditor, type ActionInput, type AuditRecord, type PaymentsOsCatalog } from '@audit-trail/core';
import { sqliteStore } from '@audit-trail/sqlite';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { killAndRestart } from '../spool-kill/run.ts';
import { AUTHORIZATION, REQUEST_PATH } from './server/protocol.ts';
import { startServer } from './support/children.ts';
import { mib, ms, num, table } from './support/markdown.ts';
import { writeRecords } from './support/records.ts';
import { percentileOfSorted, Samples } from './support/stats.ts';
import type { ScenarioResult, TargetResult } from './support/targets.ts';

/** The auditor's `maxQueueSize` in the locked-file run. */
const LOCKED_QUEUE = 200_000;

export interface SqliteWriterOptions {
  quick: boolean;
  dir: string;
  log: (line: string) => void;
}

const COLUMNS = 'id, account_id, created, action_type, resource, resource_id, user_id, user_email, app_id, outcome, status_code, request_method, request_path, request_route, request_ip, request_user_agent, request_id, trace_id, span_id, details, changes, chain_seq, prev_hash, hash';

const rowOf = (r: AuditRecord, seq: number) => [
  r.id, r.account_id, r.created, r.action_type, r.resource, r.resource_id, r.user.id, r.user.email, r.app_id, r.outcome, r.status_code,
  r.request.method, r.request.path, r.request.route, r.request.ip, r.request.user_agent, r.request.request_id,
  r.trace?.trace_id ?? null, r.trace?.span_id ?? null, JSON.stringify(r.details), null, seq, '0'.repeat(64), 'f'.repeat(64),
];

const inputOf = (r: AuditRecord): ActionInput<keyof PaymentsOsCatalog> => ({
  action_type: r.action_type as keyof PaymentsOsCatalog,
  user: r.user,
  account_id: r.account_id,
  app_id: r.app_id,
  resource_id: r.resource_id,
  status_code: r.status_code,
  request: r.request,
  trace: r.trace,
  details: r.details,
});

/** Raw better-sqlite3: the same rows into a table with only a primary key, 1,000 rows per transaction. */
function rawInsert(file: string, records: readonly AuditRecord[]): number {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE raw (${COLUMNS.split(', ').map((c) => (c === 'id' ? 'id TEXT PRIMARY KEY' : c)).join(', ')})`);
  const insert = db.prepare(`INSERT INTO raw (${COLUMNS}) VALUES (${COLUMNS.split(', ').map(() => '?').join(', ')})`);
  const write = db.transaction((rows: unknown[][]) => {
    for (const row of rows) insert.run(row);
  });
  const rows = records.map((r, i) => rowOf(r, i + 1));
  const started = performance.now();
  for (let i = 0; i < rows.length; i += 1000) write(rows.slice(i, i + 1000));
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return records.length / seconds;
}

/** `auditor.record` for every input, as fast as the queue takes them, until the store has them all (`flush`). */
async function pipeline(file: string, inputs: readonly ActionInput<keyof PaymentsOsCatalog>[], thread: boolean): Promise<number> {
  const store = sqliteStore({ database: file, thread });
  await store.ready;
  const auditor = createAuditor({ store, onError: () => undefined });
  const started = performance.now();
  for (const input of inputs) {
    // Never past the queue's bound: a dropped record would flatter the rate.
    while (auditor.stats().queued >= 9_000) await new Promise((resolve) => setImmediate(resolve));
    auditor.record(input);
  }
  await auditor.flush();
  const seconds = (performance.now() - started) / 1000;
  const { written, dropped, failed } = auditor.stats();
  await auditor.close();
  if (written !== inputs.length || dropped + failed > 0) throw new Error(`pipeline: ${written} of ${inputs.length} written (${dropped} dropped, ${failed} failed)`);
  return inputs.length / seconds;
}

interface LatencyRun {
  ok: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
}

/** Authenticated POSTs to the audited route for `seconds`; latency of every response. */
async function loadRun(url: string, connections: number, seconds: number): Promise<LatencyRun> {
  const latencies = new Samples();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      { url: `${url}${REQUEST_PATH}`, method: 'POST', headers: { authorization: AUTHORIZATION }, connections, pipelining: 1, duration: seconds, timeout: 30 },
      (error: unknown, done: autocannon.Result) => (error ? reject(error) : resolve(done)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
  const sorted = latencies.sorted();
  return { ok: result['2xx'], p99: percentileOfSorted(sorted, 99), max: sorted.at(-1) ?? 0, non2xx: result.non2xx, errors: result.errors };
}

/** Another process takes the file's write lock (BEGIN EXCLUSIVE); resolves once it holds it. */
async function holdLock(file: string): Promise<{ release(): Promise<void> }> {
  const script = `
    const db = new (require('better-sqlite3'))(${JSON.stringify(file)});
    db.exec('BEGIN EXCLUSIVE'); process.stdout.write('locked\\n');
    process.stdin.on('data', () => { db.exec('COMMIT'); db.close(); process.exit(0); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && resolve());
    child.once('exit', (code) => reject(new Error(`the locking process exited with ${code}`)));
  });
  return {
    release: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.stdin.write('release\n');
      }),
  };
}

/**
 * Scenario `writer`: the SQLite store's writer thread. (1) The write
 * pipeline end to end, `auditor.record` → `sqliteStore` (chain on) in a
 * worker thread and on the calling thread, against a raw better-sqlite3
 * insert of the same rows into a table with only a primary key; alternated
 * in rounds, same run. (2) The Express server with the SQLite store under
 * load while another process holds the file's write lock for 10 s: the
 * slowest response against the unlocked p99, the server's RSS over the
 * stall, and every record written once the lock is released. (3) `kill -9`
 * of a process writing through `spooled(...)`, then a restart.
 */
export async function benchSqliteWriter(options: SqliteWriterOptions): Promise<ScenarioResult> {
  const plan = options.quick
    ? { rounds: 1, records: 10_000, unlockedSeconds: 2, lockedSeconds: 3, connections: 50, killAfter: 1_000 }
    : { rounds: 3, records: 50_000, unlockedSeconds: 10, lockedSeconds: 10, connections: 100, killAfter: 10_000 };
  const rates = { raw: [] as number[], thread: [] as number[], inThread: [] as number[] };
  for (let round = 0; round < plan.rounds; round++) {
    options.log(`writer: pipeline round ${round + 1}/${plan.rounds}`);
    const records = writeRecords(plan.records, round * plan.records);
    const inputs = records.map(inputOf);
    const files = ['raw', 'thread', 'in-thread'].map((name) => join(options.dir, `writer-${name}-${round}.db`));
    rates.raw.push(rawInsert(files[0]!, records));
    rates.thread.push(await pipeline(files[1]!, inputs, true));
    rates.inThread.push(await pipeline(files[2]!, inputs, false));
    for (const file of files) for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const ratios = rates.thread.map((rate, i) => rate / rates.raw[i]!);

  options.log('writer: Express + SQLite under load, unlocked then locked');
  // A queue that holds the lock's worth of records (about 10 s at this rate); with the default 10,000 the excess is dropped and reported.
  const server = await startServer({ contender: 'express:audit-sqlite', dir: options.dir, maxQueueSize: LOCKED_QUEUE });
  let warm: LatencyRun;
  let unlocked: LatencyRun;
  let locked: LatencyRun;
  let rssBefore: number;
  let rssLocked = 0;
  let count: number | null;
  // The file may hold records of an earlier scenario of the same run (the http scenario's contender): count what this one adds.
  let countBefore = 0;
  try {
    countBefore = (await server.request('count', 120_000)).records ?? 0;
    warm = await loadRun(server.url, plan.connections, 1);
    unlocked = await loadRun(server.url, plan.connections, plan.unlockedSeconds);
    rssBefore = (await server.request('memory')).rss;
    const lock = await holdLock(join(options.dir, 'express-audit-sqlite.db'));
    const sampler = setInterval(() => {
      void server.request('memory').then((m) => (rssLocked = Math.max(rssLocked, m.rss)), () => undefined);
    }, 500);
    try {
      locked = await loadRun(server.url, plan.connections, plan.lockedSeconds);
    } finally {
      clearInterval(sampler);
      await lock.release();
    }
    const after = (await server.request('count', 120_000)).records;
    count = after === null || after === undefined ? null : after - countBefore;
  } finally {
    await server.stop();
  }
  const answered = warm.ok + unlocked.ok + locked.ok;

  options.log('writer: kill -9 of a process writing through the spool');
  const kill = await killAndRestart(join(options.dir, 'kill-spool.db'), join(options.dir, 'kill-remote.db'), plan.killAfter);

  const targets: TargetResult[] = [
    {
      target: 'pipeline auditor.record → sqliteStore (chain, worker) ≥ 50% of a raw better-sqlite3 insert, same run',
      measured: `${(median(ratios) * 100).toFixed(0)}% (${num(median(rates.thread))} vs ${num(median(rates.raw))} records/s)`,
      met: median(ratios) >= 0.5,
    },
    {
      target: 'file locked 10 s under load: no response slower than the unlocked p99 + 100 ms',
      measured: `slowest ${ms(locked.max)} vs unlocked p99 ${ms(unlocked.p99)}`,
      met: locked.max <= unlocked.p99 + 100,
    },
    {
      target: 'every record written once the lock is released',
      measured: `${num(count ?? 0)} stored of ${num(answered)} answered`,
      met: count !== null && count >= answered,
    },
    {
      target: 'kill -9: no record lost that the auditor confirmed',
      measured: `${kill.acknowledgedLost} lost of ${num(kill.acknowledged)} confirmed; ${kill.leftInSpool} forwarded on restart`,
      met: kill.acknowledgedLost === 0,
    },
  ];
  const markdown = [
    '## SQLite writer thread',
    '',
    `Pipeline: ${num(plan.records)} records per round through \`auditor.record\` (default batch 100) into \`sqliteStore\` with the hash chain on, ` +
      `in its worker thread and with \`thread: false\`, against better-sqlite3 inserting the same rows (1,000 per transaction) into a table with only a primary key; ` +
      `${plan.rounds} round(s), alternated, each into a new file.`,
    '',
    table(
      ['writer', 'records/s per round', 'median', '× raw (median of same-round ratios)'],
      [
        ['raw better-sqlite3, primary key only', rates.raw.map((r) => num(r)).join(', '), num(median(rates.raw)), '1.00'],
        ['auditor → sqliteStore, worker thread', rates.thread.map((r) => num(r)).join(', '), num(median(rates.thread)), median(ratios).toFixed(2)],
        ['auditor → sqliteStore, thread: false', rates.inThread.map((r) => num(r)).join(', '), num(median(rates.inThread)), median(rates.inThread.map((r, i) => r / rates.raw[i]!)).toFixed(2)],
      ],
      ['l', 'r', 'r', 'r'],
    ),
    '',
    `Locked file: the Express server with the SQLite store (child process), ${plan.connections} connections of authenticated POSTs to the audited route; ` +
      `${plan.unlockedSeconds} s unlocked, then ${plan.lockedSeconds} s with another process holding \`BEGIN EXCLUSIVE\` on the file.`,
    '',
    table(
      ['phase', '2xx', 'p99', 'slowest', 'non-2xx', 'errors'],
      [
        ['unlocked', num(unlocked.ok), ms(unlocked.p99), ms(unlocked.max), num(unlocked.non2xx), num(unlocked.errors)],
        ['locked', num(locked.ok), ms(locked.p99), ms(locked.max), num(locked.non2xx), num(locked.errors)],
      ],
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `Server RSS: ${mib(rssBefore)} before the lock, at most ${mib(rssLocked)} while it was held (the auditor's \`maxQueueSize\` is ${num(LOCKED_QUEUE)} here, so that the queue holds what arrives while the file is locked; with the default 10,000 the excess is dropped and reported through \`onError\`). ` +
      `Records stored after the release: ${num(count ?? 0)}, of ${num(answered)} audited responses (a warm-up second included).`,
    '',
    `kill -9: a process recording through \`spooled(sqliteStore(remote), { path, groupCommitMs: ${kill.groupCommitMs} })\`, 32 \`recordDurable\` calls in flight, ` +
      `killed after ${num(kill.acknowledged)} confirmed records; the restart forwarded ${kill.leftInSpool} records left in the spool. ` +
      `Confirmed and lost: ${kill.acknowledgedLost}. Stored though never confirmed (committed, the answer died with the process): ${kill.storedUnacknowledged}. ` +
      `Records in flight but not yet committed at the kill are lost by definition: at most those of one group-commit interval (here at most the 32 in flight).`,
  ].join('\n');
  return { markdown, targets };
}
