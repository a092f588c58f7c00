import { randomUUID } from 'node:crypto';
import { AuditError, type AuditRecord, type Store } from '@audit-trail/core';
import { newRecordId } from '@audit-trail/core/store';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { postgresStore, type PostgresStoreOptions } from './index.ts';

const databaseUrl = inject('databaseUrl');
// A schema of this file's own, so that it runs beside the other test files on one database.
const schema = `test_store_${randomUUID().slice(0, 8)}`;
const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
const opened: Store[] = [];

function open(options: Partial<PostgresStoreOptions> = {}): ReturnType<typeof postgresStore> {
  const store = postgresStore({ connectionString: databaseUrl, schema, ...options });
  opened.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

const BASE = Date.UTC(2026, 10, 27, 10, 0, 0, 0);
const at = (ms: number) => new Date(BASE + ms).toISOString();
const newAccount = () => `acc_${randomUUID()}`;

function aRecord(fields: Partial<AuditRecord> = {}): AuditRecord {
  return {
    id: newRecordId(),
    created: at(0),
    action_type: 'refund',
    resource: 'payment',
    resource_id: 'pay_1',
    user: { id: 'usr_alice', email: 'alice@example.com' },
    account_id: 'acc_acme',
    app_id: 'app_1',
    outcome: 'success',
    status_code: 201,
    request: { method: 'POST', path: '/payments/pay_1/refunds', route: '/payments/:payment_id/refunds', ip: '127.0.0.1', user_agent: 'curl/8.5', request_id: 'req_1' },
    trace: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' },
    details: {},
    changes: null,
    ...fields,
  };
}

const ids = (records: readonly AuditRecord[]) => records.map((r) => r.id);

describe('postgresStore options', () => {
  const cases: [string, unknown, RegExp][] = [
    ['neither connection option', {}, /exactly one of connectionString and pool/],
    ['both connection options', { connectionString: 'postgres://x', pool: new pg.Pool() }, /exactly one of connectionString and pool/],
    ['an empty connectionString', { connectionString: ' ' }, /connectionString must be/],
    ['a pool without connect()', { pool: { query: async () => ({ rows: [] }) } }, /pool must have/],
    ['poolSize with a pool', { pool: new pg.Pool(), poolSize: 5 }, /poolSize applies only with connectionString/],
    ['a poolSize of 0', { connectionString: 'postgres://x', poolSize: 0 }, /poolSize must be a positive integer/],
    ['a quoted schema', { connectionString: 'postgres://x', schema: 'a"; drop' }, /schema must be/],
    ['an uppercase table', { connectionString: 'postgres://x', table: 'Audit' }, /table must be/],
    ['a table name too long for its index names', { connectionString: 'postgres://x', table: 'a'.repeat(51) }, /table must be/],
  ];
  it.each(cases)('refuses %s with a TypeError naming the option', (_name, options, message) => {
    expect(() => postgresStore(options as PostgresStoreOptions)).toThrow(TypeError);
    expect(() => postgresStore(options as PostgresStoreOptions)).toThrow(message);
  });

  it('reads its options once, so later changes to the object do not matter', async () => {
    const options: PostgresStoreOptions = { connectionString: databaseUrl, schema, table: 'options_copy' };
    const store = open(options);
    options.table = 'elsewhere';
    await store.append([aRecord({ account_id: 'acc_options' })]);
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.options_copy`);
    expect(rows[0].n).toBe(1);
  });
});

describe('postgresStore', () => {
  it('round-trips records exactly, including created to the millisecond', async () => {
    const store = open();
    const account = newAccount();
    const records = [
      aRecord({ account_id: account, created: '2026-11-27T10:00:00.123Z', details: { nested: { list: [1, 'two', null, { three: 3.5 }] }, 'key with "quotes"': 'línea\n🧾' } }),
      aRecord({ account_id: account, created: '1999-12-31T23:59:59.999Z', resource_id: null, app_id: null, status_code: null, trace: null, user: { id: 'usr_system', email: null }, request: { method: null, path: null, route: null, ip: null, user_agent: null, request_id: null } }),
      aRecord({ account_id: account, created: '2026-01-01T00:00:00.000Z', outcome: 'failure', status_code: 499 }),
    ];
    await store.append(records);
    for (const record of records) expect(await store.get(account, record.id)).toEqual(record);
    const page = await store.query({ accountId: account, filter: {}, order: 'asc', limit: 10 });
    expect(page.map((r) => r.created)).toEqual(['1999-12-31T23:59:59.999Z', '2026-01-01T00:00:00.000Z', '2026-11-27T10:00:00.123Z']);
  });

  it('reads created as UTC whatever the session time zone', async () => {
    const store = open({ connectionString: `${databaseUrl}?options=-c%20TimeZone%3DAsia%2FKolkata` });
    const account = newAccount();
    const record = aRecord({ account_id: account, created: '2026-03-29T01:30:00.500Z' });
    await store.append([record]);
    expect(await store.get(account, record.id)).toEqual(record);
    expect(await store.query({ accountId: account, filter: { from: '2026-03-29T01:30:00.500Z', to: '2026-03-29T01:30:00.501Z' }, order: 'desc', limit: 5 })).toEqual([record]);
  });

  it('pages by (created, id) in byte order of ids, strictly after the position', async () => {
    const store = open();
    const account = newAccount();
    // Ties in created, ids whose order differs between byte order and a locale's.
    const records = ['aud_B', 'aud_a', 'aud_Z', 'aud__', 'aud_0'].map((suffix, i) => aRecord({ id: `${suffix}_${randomUUID()}`, account_id: account, created: at(i % 2) }));
    await store.append(records);
    const ascending = [...records].sort((a, b) => (a.created !== b.created ? (a.created < b.created ? -1 : 1) : a.id < b.id ? -1 : 1));
    for (const order of ['asc', 'desc'] as const) {
      const expected = order === 'asc' ? ascending : [...ascending].reverse();
      const walked: AuditRecord[] = [];
      let after: { created: string; id: string } | null = null;
      for (let pages = 0; ; pages++) {
        if (pages > records.length) throw new Error(`paging did not end within ${records.length} pages of 2`);
        const page: AuditRecord[] = await store.query({ accountId: account, filter: {}, order, limit: 2, after });
        if (page.length === 0) break;
        walked.push(...page);
        const last = page[page.length - 1]!;
        after = { created: last.created, id: last.id };
      }
      expect(ids(walked)).toEqual(ids(expected));
    }
  });

  it('applies every filter, several action types as OR', async () => {
    const store = open();
    const account = newAccount();
    const refund = aRecord({ account_id: account, created: at(0) });
    const charge = aRecord({ account_id: account, created: at(1), action_type: 'charge', user: { id: 'usr_bob', email: 'bob@example.com' } });
    const voided = aRecord({ account_id: account, created: at(2), action_type: 'void', resource_id: 'pay_2', app_id: 'app_2', outcome: 'failure', status_code: 409 });
    const other = aRecord({ account_id: account, created: at(3), action_type: 'create_customer', resource: 'customer', resource_id: 'cus_1' });
    await store.append([refund, charge, voided, other]);
    const find = async (filter: object) => ids(await store.query({ accountId: account, filter, order: 'asc', limit: 10 }));
    expect(await find({ actionTypes: ['charge'] })).toEqual([charge.id]);
    expect(await find({ actionTypes: ['void', 'refund'] })).toEqual([refund.id, voided.id]);
    expect(await find({ resource: 'customer' })).toEqual([other.id]);
    expect(await find({ resourceId: 'pay_2' })).toEqual([voided.id]);
    expect(await find({ userId: 'usr_bob' })).toEqual([charge.id]);
    expect(await find({ userEmail: 'bob@example.com' })).toEqual([charge.id]);
    expect(await find({ appId: 'app_2' })).toEqual([voided.id]);
    expect(await find({ outcome: 'failure' })).toEqual([voided.id]);
    expect(await find({ from: at(1), to: at(3) })).toEqual([charge.id, voided.id]);
    expect(await find({ actionTypes: ['refund', 'void'], outcome: 'success' })).toEqual([refund.id]);
  });

  it('ignores a record whose id is stored, also within one batch', async () => {
    const store = open();
    const account = newAccount();
    const first = aRecord({ account_id: account, details: { version: 1 } });
    await store.append([first, { ...first, details: { version: 2 } }]);
    await store.append([{ ...first, details: { version: 3 } }]);
    expect(await store.query({ accountId: account, filter: {}, order: 'desc', limit: 10 })).toEqual([first]);
  });

  it('rejects a failing append and stores none of its batch', async () => {
    const store = open();
    const account = newAccount();
    const good = aRecord({ account_id: account });
    // PostgreSQL text cannot hold U+0000, so this batch fails in the database.
    const bad = aRecord({ account_id: account, resource_id: 'pay_\u0000' });
    await expect(store.append([good, bad])).rejects.toThrow();
    expect(await store.query({ accountId: account, filter: {}, order: 'desc', limit: 10 })).toEqual([]);
  });

  it('rejects when the database cannot be reached, and retries on the next call', async () => {
    const store = open({ connectionString: 'postgres://audit:audit@127.0.0.1:1/audit', poolSize: 1 });
    await expect(store.append([aRecord()])).rejects.toThrow();
    await expect(store.query({ accountId: 'acc_acme', filter: {}, order: 'desc', limit: 1 })).rejects.toThrow();
  });

  it('keeps records across close and reopen', async () => {
    const account = newAccount();
    const record = aRecord({ account_id: account });
    const first = postgresStore({ connectionString: databaseUrl, schema });
    await first.append([record]);
    await first.close();
    await expect(first.append([aRecord()])).rejects.toMatchObject({ name: 'AuditError', code: 'closed' });
    const second = open();
    expect(await second.get(account, record.id)).toEqual(record);
  });

  it('borrows a pool without ending it', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    try {
      const store = postgresStore({ pool, schema, table: 'borrowed' });
      const account = newAccount();
      const record = aRecord({ account_id: account });
      await store.append([record]);
      await store.close();
      await store.close();
      const { rows } = await pool.query(`SELECT id FROM ${schema}.borrowed`);
      expect(rows).toEqual([{ id: record.id }]);
    } finally {
      await pool.end();
    }
  });

  it('lets concurrent writers on separate pools lose nothing', async () => {
    const writers = Array.from({ length: 4 }, () => open({ poolSize: 3 }));
    await Promise.all(writers.map((w) => w.migrate()));
    const account = newAccount();
    // Each writer appends 10 batches of 100 whose instants interleave with the other writers'.
    const batchesOf = (writer: number) =>
      Array.from({ length: 10 }, (_, batch) =>
        Array.from({ length: 100 }, (_, i) => aRecord({ account_id: account, created: at(i * 40 + batch * 4 + writer), details: { writer, batch, i } })),
      );
    const perWriter = writers.map((_, w) => batchesOf(w));
    await Promise.all(
      writers.map(async (writer, w) => {
        for (const [b, batch] of perWriter[w]!.entries()) {
          // Some batches also go through a second writer at the same time, as a retry would.
          const retry = b % 3 === 0 ? writers[(w + 1) % writers.length]!.append(batch) : undefined;
          await Promise.all([writer.append(batch), retry]);
        }
      }),
    );
    const expected = perWriter.flat(2).sort((a, b) => (a.created !== b.created ? (a.created < b.created ? 1 : -1) : a.id < b.id ? 1 : -1));
    const reader = open();
    const walked: AuditRecord[] = [];
    let after: { created: string; id: string } | null = null;
    for (let pages = 0; ; pages++) {
      if (pages > 4000 / 500) throw new Error(`paging did not end within ${pages} pages of 500`);
      const page: AuditRecord[] = await reader.query({ accountId: account, filter: {}, order: 'desc', limit: 500, after });
      if (page.length === 0) break;
      walked.push(...page);
      after = { created: page.at(-1)!.created, id: page.at(-1)!.id };
    }
    expect(walked).toHaveLength(4000);
    expect(ids(walked)).toEqual(ids(expected));
  });

  it('refuses use after close with AuditError code closed', async () => {
    const store = postgresStore({ connectionString: databaseUrl, schema });
    await store.close();
    await expect(store.query({ accountId: 'acc_acme', filter: {}, order: 'desc', limit: 1 })).rejects.toBeInstanceOf(AuditError);
    await expect(store.get('acc_acme', 'x')).rejects.toMatchObject({ code: 'closed' });
  });
});
