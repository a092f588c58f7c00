import type { MemoryReply } from './server/protocol.ts';
import { startServer, type ServerChild } from './support/children.ts';
import { load } from './support/load.ts';
import { mib, ms, num, table } from './support/markdown.ts';
import type { TargetResult } from './support/targets.ts';
import { startPostgresProcess } from '../support/postgres-process.ts';

export interface PostgresLoadOptions {
  quick: boolean;
  dir: string;
  log: (line: string) => void;
}

const CONNECTIONS = 100;
const CONTENDERS = ['express:audit-postgres', 'hono:audit-postgres'] as const;

/**
 * HTTP load on PostgreSQL: Express and Hono with the PostgreSQL store (the
 * auditor's defaults), 100 connections, then the same Express server with
 * PostgreSQL shut down under load (a fast shutdown: connections end with
 * 57P01, new ones are refused) and started again. Lost = requests answered
 * 2xx minus records stored. The server is one of this scenario's own, with
 * PostgreSQL's default durability, so that it can be stopped.
 *
 * What runs in front of PostgreSQL can be swapped without touching this file:
 * `AUDIT_BENCH_PG_STORE_WRAPPER=<module>` names a module whose
 * `wrapStore(store, { dir })` returns the store the auditor writes to (a local
 * spool, say); the report says which was used.
 */
export async function benchPostgresLoad(options: PostgresLoadOptions): Promise<{ markdown: string; targets: TargetResult[] }> {
  const plan = options.quick ? { seconds: 5, before: 2, down: 5, after: 5 } : { seconds: 60, before: 10, down: 60, after: 30 };
  const wrapper = process.env.AUDIT_BENCH_PG_STORE_WRAPPER;
  const postgres = await startPostgresProcess({ database: 'bench_load', password: 'bench', dirPrefix: 'audit-trail-bench-load-', durable: true });
  const rows: string[][] = [];
  const targets: TargetResult[] = [];
  try {
    for (const contender of CONTENDERS) {
      options.log(`write: ${contender}, ${CONNECTIONS} connections for ${plan.seconds} s`);
      const server = await startServer({ contender, dir: options.dir, databaseUrl: postgres.url, pgSchema: `load_${contender.split(':')[0]}` });
      try {
        const before = await server.request('count', 60_000);
        const run = await load({ url: server.url, connections: CONNECTIONS, seconds: plan.seconds, rampSeconds: 1 });
        const after = await server.request('count', 600_000);
        const stats = await server.request('memory');
        const stored = (after.records ?? 0) - (before.records ?? 0);
        const lost = run.ok - stored;
        rows.push([contender, num(run.rps), num(run.ok), num(stored), num(lost), num(stats.dropped), num(stats.failed)]);
        targets.push({
          target: `0 records lost: ${contender}, ${CONNECTIONS} connections, ${plan.seconds} s`,
          measured: `${num(lost)} lost of ${num(run.ok)} answered (${num(stats.dropped)} dropped, ${num(stats.failed)} failed)`,
          met: lost <= 0,
        });
      } finally {
        await server.stop();
      }
    }

    options.log(`write: express:audit-postgres with PostgreSQL shut down for ${plan.down} s under load`);
    const outage = await outageRun(options, postgres, plan);
    targets.push({
      target: `PostgreSQL shut down for ${plan.down} s under load, then started: 0 lost, memory bounded, drained within a minute`,
      measured:
        `${num(outage.lost)} lost of ${num(outage.answered)} answered; RSS peak ${mib(outage.peakRss)} MiB ` +
        `(${mib(outage.baseRss)} MiB before); drained ${Number.isFinite(outage.drainMs) ? `${(outage.drainMs / 1000).toFixed(1)} s` : '**not within 120 s**'} after the restart`,
      met: outage.lost <= 0 && outage.drainMs <= 60_000,
    });
    const markdown = [
      '### PostgreSQL under HTTP load',
      '',
      `Each server in a child process with the auditor's defaults (batchSize 100, maxBatchSize 1,000, maxQueueSize 10,000, ` +
        `3 retries, backoff from 100 ms) and ${wrapper ? `the store from \`${wrapper}\` in front of PostgreSQL` : 'the PostgreSQL store alone (no spool)'}; ` +
        `a PostgreSQL of this scenario's own (default durability); ${CONNECTIONS} connections on the audited route. ` +
        'Lost = 2xx answers minus records stored (counted in the database after the auditor flushed); a small negative number is the requests answered as the load generator stopped counting (about one per connection), stored but not counted as answered.',
      '',
      table(['server', 'req/s', 'answered', 'stored', 'lost', 'dropped (queue full)', 'failed (store)'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']),
      '',
      `Then \`express:audit-postgres\` under the same load: ${plan.before} s, PostgreSQL shut down (SIGINT, a fast shutdown) for ${plan.down} s, ` +
        `started again, ${plan.after} s more; RSS and the queue sampled every 250 ms. Drained: the queue first seen below one batch (100) after the restart.`,
      '',
      table(
        ['answered', 'stored', 'lost', 'dropped', 'failed', 'RSS before MiB', 'RSS peak MiB', 'queued peak', 'drain after restart', 'p99 ms'],
        [
          [
            num(outage.answered),
            num(outage.stored),
            num(outage.lost),
            num(outage.dropped),
            num(outage.failed),
            mib(outage.baseRss),
            mib(outage.peakRss),
            num(outage.peakQueued),
            Number.isFinite(outage.drainMs) ? `${(outage.drainMs / 1000).toFixed(1)} s` : '> 120 s',
            ms(outage.p99),
          ],
        ],
        ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    ].join('\n');
    return { markdown, targets };
  } finally {
    await postgres.stop();
  }
}

async function outageRun(
  options: PostgresLoadOptions,
  postgres: Awaited<ReturnType<typeof startPostgresProcess>>,
  plan: { before: number; down: number; after: number },
) {
  let server: ServerChild | undefined;
  try {
    server = await startServer({ contender: 'express:audit-postgres', dir: options.dir, databaseUrl: postgres.url, pgSchema: 'load_outage' });
    const running = server;
    const start = await running.request('count', 60_000);
    const base = await running.request('memory');
    const samples: MemoryReply[] = [];
    let resumedAt = 0;
    /** When the queue was first seen empty after the restart (sampled every 250 ms under load). */
    let drainedAt = 0;
    const timeline = (async () => {
      await sleep(plan.before * 1000);
      options.log('write: PostgreSQL shut down');
      await postgres.halt!();
      await sleep(plan.down * 1000);
      await postgres.resume!();
      resumedAt = performance.now();
      options.log('write: PostgreSQL started again');
    })();
    const run = await load({
      url: running.url,
      connections: CONNECTIONS,
      seconds: plan.before + plan.down + plan.after,
      rampSeconds: 1,
      onSample: () => {
        void running.request('memory', 5_000).then(
          (m) => {
            samples.push(m);
            if (resumedAt > 0 && drainedAt === 0 && m.queued < 100) drainedAt = performance.now();
          },
          () => undefined,
        );
      },
    });
    await timeline;
    // Drained: the queue back under one batch (the load goes on), counted from the restart;
    // if it was not yet under load, polled once the load has stopped.
    for (const deadline = performance.now() + 120_000; drainedAt === 0 && performance.now() < deadline; await sleep(250)) {
      if ((await running.request('memory')).queued === 0) drainedAt = performance.now();
    }
    const drainMs = drainedAt === 0 ? Number.POSITIVE_INFINITY : drainedAt - resumedAt;
    const end = await running.request('count', 600_000);
    const stats = await running.request('memory');
    const stored = (end.records ?? 0) - (start.records ?? 0);
    return {
      answered: run.ok,
      stored,
      lost: run.ok - stored,
      dropped: stats.dropped,
      failed: stats.failed,
      baseRss: base.rss,
      peakRss: Math.max(base.rss, ...samples.map((s) => s.rss)),
      peakQueued: Math.max(0, ...samples.map((s) => s.queued)),
      drainMs,
      p99: run.p99,
    };
  } finally {
    await server?.stop();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
