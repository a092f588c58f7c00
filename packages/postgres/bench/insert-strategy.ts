/**
 * Compares three ways to write a batch of records in one statement:
 * multi-row `INSERT … VALUES`, `INSERT … SELECT * FROM UNNEST(arrays)`, and
 * `INSERT … SELECT … FROM jsonb_to_recordset(one JSON document)`.
 *
 *   npx tsx packages/postgres/bench/insert-strategy.ts [batchSize] [rounds]
 *
 * Uses DATABASE_URL when set, otherwise an embedded PostgreSQL (the test setup's).
 */
import { randomUUID } from 'node:crypto';
import type { AuditRecord } from '@audit-trail/core';
import pg from 'pg';
import startTestDatabase from '../../../test/postgres-global-setup.ts';
import { postgresStore } from '../src/index.ts';

const batchSize = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 40);
const WARMUP = 5;

const COLUMNS = ['id', 'account_id', 'created', 'action_type', 'resource', 'resource_id', 'user_id', 'user_email', 'app_id', 'outcome', 'status_code', 'request', 'trace_id', 'span_id', 'details'];
const TYPES = ['text', 'text', 'timestamptz', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'integer', 'jsonb', 'text', 'text', 'jsonb'];

function record(i: number): AuditRecord {
  return {
    id: `aud_${randomUUID()}`,
    created: new Date(Date.UTC(2026, 10, 27) + i).toISOString(),
    action_type: 'refund',
    resource: 'payment',
    resource_id: `pay_${i % 500}`,
    user: { id: `usr_${i % 20}`, email: `user${i % 20}@example.com` },
    account_id: `acc_${i % 10}`,
    app_id: 'app_1',
    outcome: i % 7 === 0 ? 'failure' : 'success',
    status_code: i % 7 === 0 ? 402 : 201,
    request: { method: 'POST', path: `/payments/pay_${i}/refunds`, route: '/payments/:payment_id/refunds', ip: '127.0.0.1', user_agent: 'curl/8.5', request_id: randomUUID() },
    trace: { trace_id: randomUUID().replaceAll('-', ''), span_id: randomUUID().replaceAll('-', '').slice(0, 16) },
    details: { amount: 1000 + i, currency: 'EUR', reason: 'customer "asked"\nfor it' },
  };
}

const row = (r: AuditRecord): unknown[] => [r.id, r.account_id, r.created, r.action_type, r.resource, r.resource_id, r.user.id, r.user.email, r.app_id, r.outcome, r.status_code, JSON.stringify(r.request), r.trace?.trace_id ?? null, r.trace?.span_id ?? null, JSON.stringify(r.details)];

type Strategy = (table: string, records: AuditRecord[]) => { text: string; values: unknown[] };

const strategies: Record<string, Strategy> = {
  values(table, records) {
    const values: unknown[] = [];
    const tuples = records.map((r) => `(${row(r).map((v, c) => { values.push(v); return `$${values.length}::${TYPES[c]}`; }).join(', ')})`);
    return { text: `INSERT INTO ${table} (${COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT DO NOTHING`, values };
  },
  unnest(table, records) {
    const columns: unknown[][] = COLUMNS.map(() => []);
    for (const r of records) row(r).forEach((v, c) => columns[c]!.push(v));
    const arrays = TYPES.map((t, c) => `$${c + 1}::${t}[]`).join(', ');
    return { text: `INSERT INTO ${table} (${COLUMNS.join(', ')}) SELECT * FROM UNNEST(${arrays}) ON CONFLICT DO NOTHING`, values: columns };
  },
  jsonRecordset(table, records) {
    const flat = records.map((r) => ({ id: r.id, account_id: r.account_id, created: r.created, action_type: r.action_type, resource: r.resource, resource_id: r.resource_id, user_id: r.user.id, user_email: r.user.email, app_id: r.app_id, outcome: r.outcome, status_code: r.status_code, request: r.request, trace_id: r.trace?.trace_id ?? null, span_id: r.trace?.span_id ?? null, details: r.details }));
    const shape = COLUMNS.map((c, i) => `${c} ${TYPES[i]}`).join(', ');
    return { text: `INSERT INTO ${table} (${COLUMNS.join(', ')}) SELECT ${COLUMNS.join(', ')} FROM jsonb_to_recordset($1::jsonb) AS r(${shape}) ON CONFLICT DO NOTHING`, values: [JSON.stringify(flat)] };
  },
};

let stop: (() => Promise<void>) | void = undefined;
let url = process.env.DATABASE_URL;
if (!url) stop = await startTestDatabase({ provide: (_key: string, value: string) => { url = value; } } as never);
const pool = new pg.Pool({ connectionString: url, max: 2 });
// The server stops right after the pool ends; an idle connection may still hear about it.
pool.on('error', () => undefined);
try {
  const tables: Record<string, string> = {};
  for (const name of Object.keys(strategies)) {
    const table = `bench_${name.toLowerCase()}`;
    const store = postgresStore({ pool, schema: 'bench', table });
    await store.migrate();
    await pool.query(`TRUNCATE bench.${table}`);
    tables[name] = `bench.${table}`;
  }
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(strategies).map((n) => [n, []]));
  let counter = 0;
  for (let round = 0; round < WARMUP + rounds; round++) {
    const names = Object.keys(strategies);
    // Rotate the order so that no strategy always runs first (or right after a checkpoint).
    for (const name of [...names.slice(round % names.length), ...names.slice(0, round % names.length)]) {
      const records = Array.from({ length: batchSize }, () => record(counter++));
      const started = performance.now();
      const { text, values } = strategies[name]!(tables[name]!, records);
      await pool.query(text, values);
      if (round >= WARMUP) times[name]!.push(performance.now() - started);
    }
  }
  const { rows } = await pool.query('SHOW server_version');
  console.log(`PostgreSQL ${(rows[0] as { server_version: string }).server_version}; batch ${batchSize}; ${rounds} batches each after ${WARMUP} warm-up`);
  for (const [name, list] of Object.entries(times)) {
    list.sort((a, b) => a - b);
    const median = list[Math.floor(list.length / 2)]!;
    const p90 = list[Math.floor(list.length * 0.9)]!;
    console.log(`${name.padEnd(14)} median ${median.toFixed(1)} ms  p90 ${p90.toFixed(1)} ms  ${Math.round((batchSize / median) * 1000)} records/s`);
  }
} finally {
  await pool.end();
  if (stop) await stop();
}
