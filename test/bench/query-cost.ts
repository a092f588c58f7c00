import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Store } from '@audit-trail/core';
import { auditRecordSchema, type KeysetPosition, type StoreFilter } from '@audit-trail/core/store';
import { postgresStore } from '@audit-trail/postgres';
import { sqliteStore } from '@audit-trail/sqlite';
import Database from 'better-sqlite3';
import pg from 'pg';
import { ms, num, ratio, table } from './support/markdown.ts';
import { dropSchema } from './support/postgres.ts';
import { ACTIONS, DATASET, POSTGRES_DATASET_INSERT, RESOURCES, SQLITE_DATASET_COLUMNS, sqliteDatasetRow } from './support/records.ts';
import { percentile } from './support/stats.ts';
import type { ScenarioResult, TargetResult } from './support/targets.ts';

export interface QueryCostOptions {
  quick: boolean;
  dir: string;
  databaseUrl: string;
  log: (line: string) => void;
}

const LIMIT = 100;
/** How deep the deep page starts, as a share of the records that match. */
const DEPTH = 0.9;

/** The filters compared: none, one action type, one user. */
const CASES: readonly { name: string; filter: StoreFilter; sql: { column: string; value: string } | null }[] = [
  { name: 'none', filter: {}, sql: null },
  { name: `action_type=${DATASET.action}`, filter: { actionTypes: [DATASET.action] }, sql: { column: 'action_type', value: DATASET.action } },
  { name: `user_id=${DATASET.user}`, filter: { userId: DATASET.user }, sql: { column: 'user_id', value: DATASET.user } },
];

interface CaseResult {
  store: 'SQLite' | 'PostgreSQL';
  name: string;
  matching: number;
  depth: number;
  first: number[];
  deep: number[];
}

/** The table of records, for the few direct reads the bench makes (counts, the deep position). */
interface DirectAccess {
  count(column: string | null, value: string | null): Promise<number>;
  /** The `(created, id)` of the record `offset` places into the account's matching records, newest first. */
  positionAt(column: string | null, value: string | null, offset: number): Promise<KeysetPosition>;
  close(): Promise<void>;
}

/**
 * Scenario 3: what a page of 100 costs at the start and deep in a large table,
 * through `store.query` (SQL plus turning rows into records). The dataset is
 * populated once per store as fast as each allows (indexes dropped during the
 * load and rebuilt from their own definitions, so the schema is the store's
 * exactly), then every query shape is timed, first and deep pages alternated.
 */
export async function benchQueryCost(options: QueryCostOptions): Promise<ScenarioResult> {
  const total = options.quick ? 20_000 : 1_000_000;
  const repetitions = options.quick ? 30 : 300;
  const results: CaseResult[] = [];
  const loads: string[] = [];

  const file = join(options.dir, 'query.db');
  try {
    options.log(`query: populating SQLite with ${num(total)} records`);
    loads.push(`SQLite: ${populateSqlite(file, total)}`);
    const store = sqliteStore({ database: file });
    const reader = new Database(file, { readonly: true });
    try {
      results.push(...(await measure('SQLite', store, sqliteAccess(reader), repetitions, options.log)));
    } finally {
      await store.close();
      reader.close();
    }
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  }

  const schema = 'audit_bench_query';
  await dropSchema(options.databaseUrl, schema);
  try {
    const store = postgresStore({ connectionString: options.databaseUrl, schema, poolSize: 2 });
    const client = new pg.Client({ connectionString: options.databaseUrl });
    await client.connect();
    try {
      await store.migrate();
      options.log(`query: populating PostgreSQL with ${num(total)} records`);
      loads.push(`PostgreSQL: ${await populatePostgres(client, `"${schema}".audit_records`, schema, total)}`);
      results.push(...(await measure('PostgreSQL', store, postgresAccess(client, `"${schema}".audit_records`), repetitions, options.log)));
    } finally {
      await store.close();
      await client.end();
    }
  } finally {
    await dropSchema(options.databaseUrl, schema);
  }

  const p = (values: number[], q: number) => percentile(values, q);
  const rows = results.map((r) => [
    r.store,
    r.name,
    num(r.matching),
    num(r.depth),
    ms(p(r.first, 50)),
    ms(p(r.first, 95)),
    ms(p(r.deep, 50)),
    ms(p(r.deep, 95)),
    ratio(p(r.deep, 50) / p(r.first, 50)),
    ratio(p(r.deep, 95) / p(r.first, 95)),
  ]);
  const targets: TargetResult[] = [];
  const scale = `${num(total)} records`;
  for (const store of ['SQLite', 'PostgreSQL'] as const) {
    const mine = results.filter((r) => r.store === store);
    const worst = mine.reduce((a, b) => (p(a.deep, 50) / p(a.first, 50) >= p(b.deep, 50) / p(b.first, 50) ? a : b));
    const worstRatio = p(worst.deep, 50) / p(worst.first, 50);
    targets.push({
      target: `${store}: a deep page costs ≤ 1.5× the first (p50; ${scale})`,
      measured: `worst ${ratio(worstRatio)} (filter ${worst.name})`,
      met: worstRatio <= 1.5,
    });
  }
  const sqlite = results.filter((r) => r.store === 'SQLite');
  const slowest = sqlite.reduce((a, b) => (p(a.deep, 95) >= p(b.deep, 95) ? a : b));
  targets.push({
    target: `SQLite: a deep page ≤ 5 ms p95 (${scale})`,
    measured: `worst ${ms(p(slowest.deep, 95))} ms (filter ${slowest.name})`,
    met: p(slowest.deep, 95) <= 5,
  });

  const markdown = [
    '## Query cost',
    '',
    `${num(total)} records per store: ${num(Math.round(total * 0.9))} in the queried account, the rest in another; ` +
      `11 action types, 53 users, 30 s apart. Pages of ${LIMIT} through \`store.query\` (newest first), ` +
      `the first page and the page after the record ${Math.round(DEPTH * 100)}% deep into the matching records ` +
      `(its keyset position read once with OFFSET, as a cursor would carry it); ${repetitions} timed runs of each, first and deep alternated, after a warm-up.`,
    '',
    table(
      ['store', 'filter', 'matching', 'deep after', 'first p50 ms', 'first p95 ms', 'deep p50 ms', 'deep p95 ms', 'deep/first p50', 'deep/first p95'],
      rows,
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `Populating: ${loads.join('; ')}.`,
  ].join('\n');
  return { markdown, targets };
}

async function measure(
  store: 'SQLite' | 'PostgreSQL',
  target: Store,
  access: DirectAccess,
  repetitions: number,
  log: (line: string) => void,
): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const shape of CASES) {
    log(`query: ${store}, filter ${shape.name}`);
    const matching = await access.count(shape.sql?.column ?? null, shape.sql?.value ?? null);
    const depth = Math.min(Math.floor(matching * DEPTH), matching - LIMIT - 1);
    const after = await access.positionAt(shape.sql?.column ?? null, shape.sql?.value ?? null, depth);
    const query = { accountId: DATASET.account, filter: shape.filter, order: 'desc' as const, limit: LIMIT };

    // A sanity check before timing: full pages of valid records, the deep one strictly after its position.
    const [firstPage, deepPage] = [await target.query(query), await target.query({ ...query, after })];
    if (firstPage.length !== LIMIT || deepPage.length !== LIMIT) throw new Error(`${store} ${shape.name}: expected full pages`);
    auditRecordSchema.parse(firstPage[0]);
    auditRecordSchema.parse(deepPage[0]);
    if (`${deepPage[0]!.created}${deepPage[0]!.id}` >= `${after.created}${after.id}`) throw new Error(`${store} ${shape.name}: deep page not after its cursor`);

    const first: number[] = [];
    const deep: number[] = [];
    const warmup = Math.max(10, Math.floor(repetitions / 10));
    for (let i = 0; i < warmup + repetitions; i++) {
      let t0 = performance.now();
      await target.query(query);
      const tFirst = performance.now() - t0;
      t0 = performance.now();
      await target.query({ ...query, after });
      const tDeep = performance.now() - t0;
      if (i >= warmup) {
        first.push(tFirst);
        deep.push(tDeep);
      }
    }
    results.push({ store, name: shape.name, matching, depth, first, deep });
  }
  await access.close();
  return results;
}

/**
 * Fills the SQLite store's table (created by opening the store): the
 * secondary indexes are dropped, the rows inserted by prepared statements in a
 * few large transactions, then the indexes re-created from their own SQL.
 */
export function populateSqlite(file: string, total: number): string {
  const started = performance.now();
  void sqliteStore({ database: file, thread: false }).close(); // the store's schema; on this thread its close is synchronous
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    // Loading a throwaway file: durability of the load buys nothing.
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -262144');
    const indexes = db
      .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_records' AND sql IS NOT NULL")
      .all() as { name: string; sql: string }[];
    for (const index of indexes) db.exec(`DROP INDEX ${index.name}`);
    const insert = db.prepare(
      `INSERT INTO audit_records (${SQLITE_DATASET_COLUMNS.join(', ')}) VALUES (${SQLITE_DATASET_COLUMNS.map(() => '?').join(', ')})`,
    );
    const chunk = 100_000;
    for (let from = 0; from < total; from += chunk) {
      db.transaction(() => {
        for (let g = from; g < Math.min(total, from + chunk); g++) insert.run(sqliteDatasetRow(g));
      })();
    }
    for (const index of indexes) db.exec(index.sql);
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return `${seconds.toFixed(1)} s (${num(total / seconds)} records/s, ${indexesNote})`;
}

const indexesNote = 'secondary indexes dropped during the load and rebuilt after';

/** Fills the PostgreSQL store's table by `INSERT … SELECT … FROM generate_series`, the same way, then `VACUUM ANALYZE`. */
export async function populatePostgres(client: pg.Client, qualified: string, schema: string, total: number): Promise<string> {
  const started = performance.now();
  const { rows: indexes } = await client.query<{ indexname: string; indexdef: string }>(
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'audit_records' AND indexname NOT LIKE '%pkey'",
    [schema],
  );
  for (const index of indexes) await client.query(`DROP INDEX "${schema}"."${index.indexname}"`);
  const chunk = 250_000;
  for (let from = 0; from < total; from += chunk) {
    await client.query(POSTGRES_DATASET_INSERT.replace('%TABLE%', qualified), [ACTIONS, RESOURCES, from, Math.min(total, from + chunk) - 1]);
  }
  for (const index of indexes) await client.query(index.indexdef);
  // What autovacuum does for a table in use: statistics for the planner, the visibility map.
  await client.query(`VACUUM ANALYZE ${qualified}`);
  const seconds = (performance.now() - started) / 1000;
  return `${seconds.toFixed(1)} s (${num(total / seconds)} records/s, ${indexesNote}, then VACUUM ANALYZE)`;
}

function sqliteAccess(db: Database.Database): DirectAccess {
  const where = (column: string | null) => `account_id = ?${column ? ` AND ${column} = ?` : ''}`;
  const parameters = (value: string | null) => (value === null ? [DATASET.account] : [DATASET.account, value]);
  return {
    async count(column, value) {
      return (db.prepare(`SELECT count(*) AS n FROM audit_records WHERE ${where(column)}`).get(...parameters(value)) as { n: number }).n;
    },
    async positionAt(column, value, offset) {
      return db
        .prepare(`SELECT created, id FROM audit_records WHERE ${where(column)} ORDER BY created DESC, id DESC LIMIT 1 OFFSET ?`)
        .get(...parameters(value), offset) as KeysetPosition;
    },
    async close() {},
  };
}

function postgresAccess(client: pg.Client, qualified: string): DirectAccess {
  const where = (column: string | null) => `account_id = $1${column ? ` AND ${column} = $2` : ''}`;
  const parameters = (value: string | null) => (value === null ? [DATASET.account] : [DATASET.account, value]);
  return {
    async count(column, value) {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualified} WHERE ${where(column)}`, parameters(value));
      return Number(rows[0]!.n);
    },
    async positionAt(column, value, offset) {
      const values = parameters(value);
      // The alias differs from the column, so that ORDER BY sorts by the timestamp (and its index).
      const { rows } = await client.query<{ created_iso: string; id: string }>(
        `SELECT to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_iso, id FROM ${qualified}
         WHERE ${where(column)} ORDER BY created DESC, id DESC LIMIT 1 OFFSET $${values.length + 1}`,
        [...values, offset],
      );
      return { created: rows[0]!.created_iso, id: rows[0]!.id };
    },
    async close() {},
  };
}
