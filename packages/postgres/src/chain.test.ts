import { randomUUID } from 'node:crypto';
import { verify, type AuditRecord } from '@audit-trail/core';
import { linkRecords, webCryptoHasher } from '@audit-trail/core/store';
import { sampleRecord } from '@audit-trail/store-conformance';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { nodeChainHasher, postgresStore, type PostgresStore, type PostgresStoreOptions } from './index.ts';
import { tableNames } from './migrations.ts';
import { storeStatements } from './postgres-store.ts';

const databaseUrl = inject('databaseUrl');
const schema = `test_chain_${randomUUID().slice(0, 8)}`;
const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
const KEY = 'postgres-chain-key-for-the-tests';
const opened: PostgresStore[] = [];

function open(options: Partial<PostgresStoreOptions> = {}): PostgresStore {
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

describe('the PostgreSQL chain', () => {
  it('stays one valid, gap-free chain per account with four instances appending to the same accounts at once', async () => {
    const table = 'concurrent_chain';
    const stores = Array.from({ length: 4 }, () => open({ table, poolSize: 3 }));
    await stores[0]!.migrate();
    const accounts = [`acc_${randomUUID()}`, `acc_${randomUUID()}`, `acc_${randomUUID()}`, null];
    // Every batch spans several accounts, in a different order per writer: locks taken in batch order would deadlock.
    const batchesOf = (writer: number): AuditRecord[][] =>
      Array.from({ length: 15 }, (_, b) =>
        Array.from({ length: 40 }, (_, i) => sampleRecord({ account_id: accounts[(writer + b + i) % accounts.length]!, details: { writer, b, i } })),
      );
    const batches = stores.map((_, writer) => batchesOf(writer));
    await Promise.all(
      stores.map(async (store, writer) => {
        for (const batch of batches[writer]!) {
          // Three connections per instance: two batches in flight, plus a retry of the previous one from another instance.
          await Promise.all([store.append(batch), stores[(writer + 1) % 4]!.append(batch)]);
        }
      }),
    );
    const result = await verify(stores[0]!, { hasher: nodeChainHasher() });
    expect(result).toMatchObject({ ok: true, verified: 4 * 15 * 40 });
    if (!result.ok) return;
    const ours = result.accounts.filter((a) => accounts.includes(a.account));
    expect(ours.map((a) => a.count).reduce((x, y) => x + y)).toBe(2400);
    for (const chain of ours) expect([chain.first_seq, chain.seq]).toEqual([1, chain.count]);
    // The writers interleaved within each chain, so the database did the serialising.
    const writers = (await stores[1]!.scanChain!(accounts[0]!, null, 1000)).map((l) => (l.record.details as { writer: number }).writer);
    expect(writers.filter((w, i) => i > 0 && w !== writers[i - 1]).length).toBeGreaterThan(5);
  }, 60_000);

  it('hashes as core does with Web Crypto, keyed or not, and returns records as appended', async () => {
    for (const key of [undefined, KEY]) {
      const store = open({ table: key ? 'keyed_chain' : 'plain_chain', ...(key ? { chain: { key } } : {}) });
      const account = `acc_${randomUUID()}`;
      const records = Array.from({ length: 4 }, (_, i) =>
        sampleRecord({ account_id: account, details: { 'ключ': 'значение', n: 1.5, big: 1e21, small: 1.5e-7, i, z: { b: 1, a: [null, true] } } }),
      );
      await store.append(records);
      const stored = await store.scanChain!(account, null, 10);
      expect(stored.map((l) => l.record)).toEqual(records);
      expect(stored.map((l) => l.hash)).toEqual((await linkRecords(null, records, webCryptoHasher(key))).map((l) => l.hash));
      expect((await verify(store, { account, ...(key ? { key } : {}) })).ok).toBe(true);
    }
  });

  it('refuses a second record at a position, also for records without an account', async () => {
    const store = open({ table: 'unique_chain' });
    await store.append([sampleRecord({ account_id: 'acc_x' }), sampleRecord({ account_id: null })]);
    const forge = (id: string, account: string | null) =>
      admin.query(
        `INSERT INTO ${schema}.unique_chain (id, account_id, created, action_type, resource, user_id, outcome, request, details, chain_seq, prev_hash, hash)
         VALUES ($1, $2, now(), 'refund', 'payment', 'usr_x', 'success', '{}', '{}', 1, 'x', 'y')`,
        [id, account],
      );
    await expect(forge('aud_fork', 'acc_x')).rejects.toThrow(/duplicate key value violates unique constraint "unique_chain_chain_idx"/);
    await expect(forge('aud_fork_null', null)).rejects.toThrow(/unique_chain_chain_null/);
  });

  it('continues from the newest link when a head row was deleted by hand', async () => {
    const store = open({ table: 'headless_chain' });
    const account = `acc_${randomUUID()}`;
    await store.append([sampleRecord({ account_id: account }), sampleRecord({ account_id: account }), sampleRecord({ account_id: null })]);
    await admin.query(`DELETE FROM ${schema}.headless_chain_chain_heads`);
    await store.append([sampleRecord({ account_id: account }), sampleRecord({ account_id: null })]);
    expect(await store.chainHeads!(account)).toMatchObject([{ seq: 3 }]);
    expect(await store.chainHeads!(null)).toMatchObject([{ seq: 2 }]);
    expect((await verify(store)).ok).toBe(true);
  });

  it('lists every account with records, also ones without a head row', async () => {
    const store = open({ table: 'listed_chain' });
    const account = `acc_${randomUUID()}`;
    await store.append([sampleRecord({ account_id: account })]);
    await open({ table: 'listed_chain', chain: false }).append([sampleRecord({ account_id: 'acc_unchained' })]);
    const heads = await store.chainHeads!();
    expect(heads.map((h) => h.accountId)).toEqual(['acc_unchained', account].sort());
    expect(heads.find((h) => h.accountId === 'acc_unchained')).toMatchObject({ seq: 0 });
    // Which verify then reports: a record without a link.
    expect(await verify(store)).toMatchObject({ ok: false, account: 'acc_unchained', kind: 'inserted' });
  });

  it('locks heads and reads chains through their indexes', async () => {
    const store = open({ table: 'planned_chain' });
    await store.append([sampleRecord({ account_id: 'acc_plan' })]);
    const statements = storeStatements(tableNames(schema, 'planned_chain'));
    const client = await admin.connect();
    try {
      // Tiny tables are read whole anyway; what matters is that the indexes can serve these statements.
      await client.query('SET enable_seqscan = off');
      const plan = async (text: string, values: unknown[]) =>
        (await client.query(`EXPLAIN ${text}`, values)).rows.map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN']).join('\n');
      const lockPlan = await plan(statements.lockHeads, [['acc_plan', 'acc_other']]);
      expect(lockPlan).toMatch(/Index Scan (on|using) planned_chain_heads_idx/);
      // Rows are locked above the sort, so in the fixed order.
      expect(lockPlan.split('\n')[0]).toMatch(/^LockRows/);
      expect(await plan(statements.scanFrom, ['acc_plan', 0, 1000])).toMatch(/Index Scan using planned_chain_chain_idx/);
      expect(await plan(statements.scanFrom, ['acc_plan', 0, 1000])).not.toMatch(/Sort/);
      expect(await plan(statements.existing, [['aud_1', 'aud_2']])).toMatch(/Index (Only )?Scan (on|using) planned_chain_pkey/);
    } finally {
      await client.query('RESET enable_seqscan');
      client.release();
    }
  });

  describe('the append in one round trip', () => {
    /** A pool that counts the statements sent, and may act before the append function runs. */
    function countingPool(beforeAppend?: () => Promise<void>) {
      const inner = new pg.Pool({ connectionString: databaseUrl, max: 2 });
      const sent: string[] = [];
      const pool = {
        async query(text: string, values?: unknown[]) {
          sent.push(text);
          if (beforeAppend && text.includes('_append_chained')) await beforeAppend();
          return inner.query(text, values);
        },
        async connect() {
          const client = await inner.connect();
          return Object.assign(Object.create(client) as pg.PoolClient, {
            query: (text: string, values?: unknown[]) => (sent.push(text), client.query(text, values)),
            release: (error?: Error | boolean) => client.release(error),
          });
        },
      };
      return { pool, sent, end: () => inner.end() };
    }

    it('sends one statement per batch, also for a new account and after another instance wrote', async () => {
      const table = 'one_round_trip';
      const account = `acc_${randomUUID()}`;
      const counting = countingPool();
      try {
        const store = postgresStore({ pool: counting.pool, schema, table });
        opened.push(store);
        await store.migrate();
        counting.sent.length = 0;
        await store.append([sampleRecord({ account_id: account }), sampleRecord({ account_id: null })]);
        await store.append(Array.from({ length: 50 }, () => sampleRecord({ account_id: account })));
        expect(counting.sent.filter((t) => !t.startsWith('SELECT to_regclass'))).toHaveLength(2);
        // Another instance moves the head: the next batch is refused once, linked again, and stored.
        await open({ table }).append([sampleRecord({ account_id: account })]);
        counting.sent.length = 0;
        await store.append([sampleRecord({ account_id: account })]);
        expect(counting.sent).toHaveLength(2);
        const result = await verify(store, { hasher: nodeChainHasher() });
        expect(result).toMatchObject({ ok: true, verified: 54 });
      } finally {
        await counting.end();
      }
    });

    it('builds appends made while one is in flight at once, and stores them in call order, one statement each', async () => {
      const table = 'in_flight';
      const account = `acc_${randomUUID()}`;
      const counting = countingPool();
      try {
        const store = postgresStore({ pool: counting.pool, schema, table });
        opened.push(store);
        await store.migrate();
        counting.sent.length = 0;
        const batches = Array.from({ length: 4 }, (_, b) =>
          Array.from({ length: 30 }, (_, i) => sampleRecord({ account_id: i % 3 === 0 ? null : account, details: { b, i, text: 'a "quoted" \\ back\\slash {x,y} NULL' } })),
        );
        await Promise.all(batches.map((batch) => store.append(batch)));
        expect(counting.sent.filter((t) => t.includes('_append_chained'))).toHaveLength(4);
        const chain = await store.scanChain!(account, null, 1000);
        expect(chain.map((l) => l.record.id)).toEqual(batches.flat().filter((r) => r.account_id === account).map((r) => r.id));
        expect(chain[0]!.record.details).toEqual(batches[0]![1]!.details);
        expect(await verify(store, { hasher: nodeChainHasher() })).toMatchObject({ ok: true, verified: 120 });
      } finally {
        await counting.end();
      }
    });

    it('links an append made after one finished while the next is in flight after that next one', async () => {
      const table = 'in_flight_later';
      const account = `acc_${randomUUID()}`;
      const counting = countingPool();
      try {
        const store = postgresStore({ pool: counting.pool, schema, table });
        opened.push(store);
        await store.migrate();
        counting.sent.length = 0;
        const batch = () => Array.from({ length: 10 }, () => sampleRecord({ account_id: account }));
        const first = store.append(batch());
        const second = store.append(batch());
        await first;
        // Built now, while the second is on its way: it must follow the second, not the first.
        await Promise.all([second, store.append(batch())]);
        expect(counting.sent.filter((t) => t.includes('_append_chained'))).toHaveLength(3);
        expect(await verify(store, { hasher: nodeChainHasher() })).toMatchObject({ ok: true, verified: 30 });
      } finally {
        await counting.end();
      }
    });

    it('stores a batch sent again once only, by the same store or another', async () => {
      const table = 'sent_again';
      const account = `acc_${randomUUID()}`;
      const store = open({ table });
      const batch = Array.from({ length: 5 }, () => sampleRecord({ account_id: account }));
      await store.append(batch);
      await store.append(batch);
      const fresh = sampleRecord({ account_id: account });
      await open({ table }).append([...batch.slice(2), fresh]);
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.${table}`);
      expect(rows[0].n).toBe(6);
      expect(await verify(store, { hasher: nodeChainHasher() })).toMatchObject({ ok: true, verified: 6 });
      expect((await store.scanChain!(account, null, 10)).map((l) => l.record.id)).toEqual([...batch, fresh].map((r) => r.id));
    });

    it('falls back to the locked append when another writer keeps moving the head', async () => {
      const table = 'contended';
      const account = `acc_${randomUUID()}`;
      const rival = open({ table });
      await rival.migrate();
      let moves = 0;
      const counting = countingPool(async () => {
        moves++;
        await rival.append([sampleRecord({ account_id: account })]);
      });
      try {
        const store = postgresStore({ pool: counting.pool, schema, table });
        opened.push(store);
        const batch = Array.from({ length: 3 }, () => sampleRecord({ account_id: account }));
        await store.append(batch);
        expect(moves).toBe(3); // every optimistic round lost
        expect(counting.sent).toContain('BEGIN');
        const result = await verify(store, { hasher: nodeChainHasher() });
        expect(result).toMatchObject({ ok: true, verified: 6 });
        const chain = await store.scanChain!(account, null, 10);
        expect(chain.slice(-3).map((l) => l.record.id)).toEqual(batch.map((r) => r.id));
      } finally {
        await counting.end();
      }
    });
  });

  it('with chain: false, writes one statement per batch and no links', async () => {
    const store = open({ table: 'no_chain', chain: false });
    const record = sampleRecord({ account_id: 'acc_plain' });
    await store.append([record]);
    expect(store.scanChain).toBeUndefined();
    const { rows } = await admin.query(`SELECT chain_seq, prev_hash, hash FROM ${schema}.no_chain`);
    expect(rows).toEqual([{ chain_seq: null, prev_hash: null, hash: null }]);
  });

  it('refuses a short chain key when the store is made', () => {
    expect(() => postgresStore({ connectionString: databaseUrl, chain: { key: 'short' } })).toThrow(/postgresStore: chain.key must be at least 16 bytes/);
  });
});
