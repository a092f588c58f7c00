import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '@audit-trail/core';
import { auditStats, type AuditStats, type StoreFilter } from '@audit-trail/core/store';
import { postgresStore } from '@audit-trail/postgres';
import { sqliteStore } from '@audit-trail/sqlite';
import pg from 'pg';
import { populatePostgres, populateSqlite } from './query-cost.ts';
import { ms, num, ratio, table } from './support/markdown.ts';
import { dropSchema } from './support/postgres.ts';
import { DATASET } from './support/records.ts';
import { percentile } from './support/stats.ts';
import type { ScenarioResult, TargetResult } from './support/targets.ts';

export interface StatsCostOptions {
  quick: boolean;
  dir: string;
  databaseUrl: string;
  log: (line: string) => void;
}

interface Shape {
  name: string;
  filter: StoreFilter;
  interval: 'hour' | 'day';
}

interface ShapeResult {
  store: 'SQLite' | 'PostgreSQL';
  shape: Shape;
  counted: number;
  buckets: number;
  own: number[];
  paged: number;
}

const DAY = 86_400_000;

/**
 * Scenario `stats`: `GET /audit/stats` on a large table, through
 * `auditStats` (what the endpoint calls): the store's own `stats` (one
 * GROUP BY) against the fallback for stores without it (paging through
 * `query` and counting), on the query scenario's dataset.
 */
export async function benchStatsCost(options: StatsCostOptions): Promise<ScenarioResult> {
  const total = options.quick ? 20_000 : 1_000_000;
  const repetitions = options.quick ? 5 : 20;
  const end = DATASET.start + total * DATASET.stepMs;
  const shapes: Shape[] = [
    { name: 'last 7 days, per hour', filter: { from: new Date(end - 7 * DAY).toISOString(), to: new Date(end).toISOString() }, interval: 'hour' },
    { name: 'everything, per day', filter: { from: new Date(DATASET.start).toISOString(), to: new Date(end).toISOString() }, interval: 'day' },
    {
      name: `everything, per day, action_type=${DATASET.action}`,
      filter: { from: new Date(DATASET.start).toISOString(), to: new Date(end).toISOString(), actionTypes: [DATASET.action] },
      interval: 'day',
    },
  ];
  const results: ShapeResult[] = [];
  const loads: string[] = [];

  const file = join(options.dir, 'stats.db');
  try {
    options.log(`stats: populating SQLite with ${num(total)} records`);
    loads.push(`SQLite: ${populateSqlite(file, total)}`);
    const store = sqliteStore({ database: file });
    try {
      results.push(...(await measure('SQLite', store, shapes, repetitions, options.log)));
    } finally {
      await store.close();
    }
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  }

  const schema = 'audit_bench_stats';
  await dropSchema(options.databaseUrl, schema);
  try {
    const store = postgresStore({ connectionString: options.databaseUrl, schema, poolSize: 2 });
    const client = new pg.Client({ connectionString: options.databaseUrl });
    await client.connect();
    try {
      await store.migrate();
      options.log(`stats: populating PostgreSQL with ${num(total)} records`);
      loads.push(`PostgreSQL: ${await populatePostgres(client, `"${schema}".audit_records`, schema, total)}`);
      results.push(...(await measure('PostgreSQL', store, shapes, repetitions, options.log)));
    } finally {
      await store.close();
      await client.end();
    }
  } finally {
    await dropSchema(options.databaseUrl, schema);
  }

  const p50 = (values: number[]) => percentile(values, 50);
  const rows = results.map((r) => [
    r.store,
    r.shape.name,
    num(r.counted),
    num(r.buckets),
    ms(p50(r.own)),
    ms(percentile(r.own, 95)),
    ms(r.paged),
    ratio(r.paged / p50(r.own)),
  ]);
  const targets: TargetResult[] = [];
  for (const store of ['SQLite', 'PostgreSQL'] as const) {
    const week = results.find((r) => r.store === store && r.shape.interval === 'hour')!;
    targets.push({
      target: `${store}: stats of the last 7 days per hour ≤ 100 ms p50 (${num(total)} records)`,
      measured: `${ms(p50(week.own))} ms`,
      met: p50(week.own) <= 100,
    });
  }
  const markdown = [
    '## Stats cost',
    '',
    `\`GET /audit/stats\` through \`auditStats\` on the query scenario's ${num(total)} records (30 s apart): the store's own \`stats\` ` +
      `(one GROUP BY on the time bucket), ${repetitions} timed runs after a warm-up, against the fallback a store without \`stats\` gets ` +
      '(paging through `query` 500 at a time and counting), timed once, in the same run.',
    '',
    table(
      ['store', 'range', 'records counted', 'buckets', 'own p50 ms', 'own p95 ms', 'fallback ms', 'fallback / own'],
      rows,
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `Populating: ${loads.join('; ')}.`,
  ].join('\n');
  return { markdown, targets };
}

async function measure(store: 'SQLite' | 'PostgreSQL', target: Store, shapes: Shape[], repetitions: number, log: (line: string) => void): Promise<ShapeResult[]> {
  const results: ShapeResult[] = [];
  const fallback: Store = { ...target, stats: undefined };
  for (const shape of shapes) {
    log(`stats: ${store}, ${shape.name}`);
    const run = (s: Store) => auditStats(s, DATASET.account, shape.filter, shape.interval);
    let t0 = performance.now();
    const paged = await run(fallback);
    const pagedMs = performance.now() - t0;
    const own: number[] = [];
    let answer: AuditStats | null = null;
    for (let i = 0; i < 3 + repetitions; i++) {
      t0 = performance.now();
      answer = await run(target);
      if (i >= 3) own.push(performance.now() - t0);
    }
    // Both ways must agree, or the timing means nothing.
    if (JSON.stringify(answer) !== JSON.stringify(paged)) throw new Error(`${store} ${shape.name}: stats and the fallback disagree`);
    const counted = paged.buckets.reduce((n, b) => n + b.count, 0);
    if (counted === 0) throw new Error(`${store} ${shape.name}: nothing counted`);
    results.push({ store, shape, counted, buckets: paged.buckets.length, own, paged: pagedMs });
  }
  return results;
}
