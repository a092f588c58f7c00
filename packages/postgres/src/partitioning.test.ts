import { randomUUID } from 'node:crypto';
import { verify, type AuditRecord } from '@audit-trail/core';
import { newRecordId } from '@audit-trail/core/store';
import pg from 'pg';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { postgresStore } from './index.ts';
import { tableNames } from './migrations.ts';
import { pageStatement, storeStatements } from './postgres-store.ts';

const databaseUrl = inject('databaseUrl');
const schema = `test_partitions_${randomUUID().slice(0, 8)}`;
const session = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });

beforeAll(async () => {
  await session.connect();
});

afterAll(async () => {
  await session.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await session.end();
});

/** The conversion the README describes, word for word. */
const CONVERT_TO_PARTITIONS = `
BEGIN;
LOCK TABLE audit_records IN ACCESS EXCLUSIVE MODE;
ALTER TABLE audit_records RENAME TO audit_records_before_2027;
ALTER INDEX audit_records_pkey RENAME TO audit_records_before_2027_pkey;
ALTER INDEX audit_records_account_idx RENAME TO audit_records_before_2027_account_idx;
ALTER INDEX audit_records_action_idx RENAME TO audit_records_before_2027_action_idx;
ALTER INDEX audit_records_user_idx RENAME TO audit_records_before_2027_user_idx;
ALTER INDEX audit_records_resource_idx RENAME TO audit_records_before_2027_resource_idx;
ALTER INDEX audit_records_chain_idx RENAME TO audit_records_before_2027_chain_idx;
ALTER INDEX audit_records_chain_null RENAME TO audit_records_before_2027_chain_null;

CREATE TABLE audit_records (LIKE audit_records_before_2027 INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS)
  PARTITION BY RANGE (created);
ALTER TABLE audit_records ADD PRIMARY KEY (id, created);
CREATE INDEX audit_records_account_idx ON audit_records (account_id, created, id);
CREATE INDEX audit_records_action_idx ON audit_records (account_id, action_type, created, id);
CREATE INDEX audit_records_user_idx ON audit_records (account_id, user_id, created, id);
CREATE INDEX audit_records_resource_idx ON audit_records (account_id, resource_id, created, id);
CREATE INDEX audit_records_chain_idx ON audit_records (account_id, chain_seq);

ALTER TABLE audit_records_before_2027
  DROP CONSTRAINT audit_records_before_2027_pkey,
  ADD PRIMARY KEY (id, created),
  ADD CONSTRAINT before_2027 CHECK (created < '2027-01-01T00:00:00Z');
ALTER TABLE audit_records ATTACH PARTITION audit_records_before_2027
  FOR VALUES FROM (MINVALUE) TO ('2027-01-01T00:00:00Z');

CREATE TABLE audit_records_2027_01 PARTITION OF audit_records
  FOR VALUES FROM ('2027-01-01T00:00:00Z') TO ('2027-02-01T00:00:00Z');
CREATE TABLE audit_records_2027_02 PARTITION OF audit_records
  FOR VALUES FROM ('2027-02-01T00:00:00Z') TO ('2027-03-01T00:00:00Z');
COMMIT;
`;

function aRecord(account: string, created: string): AuditRecord {
  return {
    id: newRecordId(),
    created,
    action_type: 'refund',
    resource: 'payment',
    resource_id: 'pay_1',
    user: { id: 'usr_alice', email: null },
    account_id: account,
    app_id: null,
    outcome: 'success',
    status_code: 201,
    request: { method: null, path: null, route: null, ip: null, user_agent: null, request_id: null },
    trace: null,
    details: { note: 'partitioned' },
    changes: null,
  };
}

it('works unchanged on a table converted to monthly partitions, and drops old months whole', async () => {
  const account = `acc_${randomUUID()}`;
  const store = postgresStore({ connectionString: databaseUrl, schema });
  try {
    const before = [aRecord(account, '2026-11-03T10:00:00.000Z'), aRecord(account, '2026-12-20T10:00:00.000Z')];
    await store.append(before);
    await session.query(CONVERT_TO_PARTITIONS);

    const after = [aRecord(account, '2027-01-15T10:00:00.000Z'), aRecord(account, '2027-02-01T00:00:00.000Z')];
    await store.append(after);
    // A retried batch is still ignored: the key is now (id, created), and a retry repeats both.
    await store.append([...before, ...after]);
    const all = [...before, ...after].reverse();
    expect(await store.query({ accountId: account, filter: {}, order: 'desc', limit: 10 })).toEqual(all);
    expect(await store.get(account, before[0]!.id)).toEqual(before[0]);

    // A later page skips the partitions beyond its position.
    const { text, values } = pageStatement(storeStatements(tableNames(schema, 'audit_records')).select, {
      accountId: account,
      filter: {},
      order: 'desc',
      limit: 51,
      after: { created: '2027-01-20T00:00:00.000Z', id: 'aud_x' },
    });
    const plan = (await session.query(`EXPLAIN ${text}`, values)).rows.map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN']).join('\n');
    expect(plan).toContain('audit_records_2027_01');
    expect(plan).not.toContain('audit_records_2027_02');

    expect(await verify(store, { account })).toMatchObject({ ok: true, accounts: [{ seq: 4, count: 4 }] });

    // Retention: a month leaves as a whole table, with no DELETE and no bloat.
    await session.query('ALTER TABLE audit_records DETACH PARTITION audit_records_before_2027');
    await session.query('DROP TABLE audit_records_before_2027');
    expect(await store.query({ accountId: account, filter: {}, order: 'desc', limit: 10 })).toEqual(all.slice(0, 2));
    // The chain went on across the conversion; dropping the old month pruned its start.
    expect(await verify(store, { account })).toMatchObject({ ok: false, kind: 'deleted', seq: 1 });
    expect(await verify(store, { account, acceptPrunedStart: true })).toMatchObject({ ok: true, accounts: [{ first_seq: 3, seq: 4 }] });
  } finally {
    await store.close();
  }
});
