import { randomUUID } from 'node:crypto';
import { type AuditRecord } from '@audit-trail/core';
import { newRecordId, type StoreQuery } from '@audit-trail/core/store';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tableNames } from './migrations.ts';
import { pageStatement, postgresStore, storeStatements } from './postgres-store.ts';

const databaseUrl = inject('databaseUrl');
const schema = `test_plans_${randomUUID().slice(0, 8)}`;
const names = tableNames(schema, 'audit_records');
const statements = storeStatements(names);
const session = new pg.Client({ connectionString: databaseUrl });
const ACCOUNT = 'acc_plans';
const LATEST = '2026-11-27T10:00:00.000Z';

/** A plan node of `EXPLAIN (FORMAT JSON)`, the fields read here. */
interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Scan Direction'?: string;
  Plans?: PlanNode[];
}

function nodesOf(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];
}

async function planOf(text: string, values: unknown[]): Promise<PlanNode[]> {
  const { rows } = await session.query(`EXPLAIN (FORMAT JSON) ${text}`, values);
  return nodesOf((rows[0] as { 'QUERY PLAN': [{ Plan: PlanNode }] })['QUERY PLAN'][0].Plan);
}

beforeAll(async () => {
  const store = postgresStore({ connectionString: databaseUrl, schema });
  try {
    // Enough rows over many accounts that statistics are realistic.
    const users = ['usr_alice', 'usr_bob', 'usr_carol', 'usr_dave'];
    const actions = ['refund', 'charge', 'capture', 'void', 'create_payment', 'get_payment'];
    for (let batch = 0; batch < 10; batch++) {
      const records: AuditRecord[] = Array.from({ length: 1000 }, (_, i) => {
        const n = batch * 1000 + i;
        return {
          id: newRecordId(),
          created: new Date(Date.parse(LATEST) - n * 1000).toISOString(),
          action_type: actions[n % actions.length]!,
          resource: 'payment',
          resource_id: `pay_${n % 700}`,
          user: { id: users[n % users.length]!, email: null },
          account_id: n % 4 === 0 ? ACCOUNT : `acc_${n % 50}`,
          app_id: null,
          outcome: 'success',
          status_code: 200,
          request: { method: null, path: null, route: null, ip: null, user_agent: null, request_id: null },
          trace: null,
          details: {},
          changes: null,
        };
      });
      await store.append(records);
    }
  } finally {
    await store.close();
  }
  await session.connect();
  await session.query(`ANALYZE ${names.qualifiedTable}`);
  // The planner may still prefer reading a small table whole; take that
  // choice away, so that the test shows an index that serves each shape in order.
  await session.query('SET enable_seqscan = off');
});

afterAll(async () => {
  await session.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await session.end();
});

const after = { created: '2026-11-27T09:00:00.000Z', id: 'aud_zzzz' };
const base = { accountId: ACCOUNT, limit: 51 } as const;

const shapes: [string, StoreQuery, string][] = [
  ['first page, newest first', { ...base, filter: {}, order: 'desc' }, 'audit_records_account_idx'],
  ['a later page, newest first', { ...base, filter: {}, order: 'desc', after }, 'audit_records_account_idx'],
  ['a later page, oldest first', { ...base, filter: {}, order: 'asc', after }, 'audit_records_account_idx'],
  ['a time window', { ...base, filter: { from: '2026-11-27T08:00:00.000Z', to: '2026-11-27T09:00:00.000Z' }, order: 'desc', after }, 'audit_records_account_idx'],
  ['one action type', { ...base, filter: { actionTypes: ['refund'] }, order: 'desc', after }, 'audit_records_action_idx'],
  ['one user', { ...base, filter: { userId: 'usr_bob' }, order: 'desc', after }, 'audit_records_user_idx'],
  ['one resource', { ...base, filter: { resourceId: 'pay_42' }, order: 'asc', after }, 'audit_records_resource_idx'],
];

describe('query plans', () => {
  it.each(shapes)('%s reads an index in order, without a sort', async (_name, query, index) => {
    const { text, values } = pageStatement(statements.select, query);
    const nodes = await planOf(text, values);
    const types = nodes.map((node) => node['Node Type']);
    expect(types).not.toContain('Seq Scan');
    expect(types).not.toContain('Sort');
    expect(types).not.toContain('Incremental Sort');
    const scan = nodes.find((node) => node['Index Name'] !== undefined);
    expect(scan).toMatchObject({ 'Node Type': 'Index Scan', 'Index Name': index, 'Scan Direction': query.order === 'desc' ? 'Backward' : 'Forward' });
  });

  it('several action types avoid reading the table whole', async () => {
    const { text, values } = pageStatement(statements.select, { ...base, filter: { actionTypes: ['refund', 'void'] }, order: 'desc', after });
    const types = (await planOf(text, values)).map((node) => node['Node Type']);
    expect(types).not.toContain('Seq Scan');
  });

  it('get reads the primary key', async () => {
    const nodes = await planOf(statements.get, [ACCOUNT, 'aud_x']);
    expect(nodes.find((node) => node['Index Name'] !== undefined)).toMatchObject({ 'Index Name': 'audit_records_pkey' });
  });
});
