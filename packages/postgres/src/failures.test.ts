import { randomUUID } from 'node:crypto';
import { createAuditor, verify, type AuditError } from '@audit-trail/core';
import { sampleRecord } from '@audit-trail/store-conformance';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { inTransaction } from './client.ts';
import { nodeChainHasher, postgresStore } from './index.ts';

const databaseUrl = inject('databaseUrl');
const schema = `test_failures_${randomUUID().slice(0, 8)}`;
const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

/** A connection string whose connections can be found (and terminated) by their application name. */
function named(application: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', application);
  return url.toString();
}

/** Terminates every backend of `application`, as an operator or a failover would (57P01). */
async function terminate(application: string): Promise<number> {
  const { rows } = await admin.query(
    'SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) AS t',
    [application],
  );
  return (rows[0] as { n: number }).n;
}

describe('PostgreSQL failures are store failures, never crashes', () => {
  it('survives a backend terminated while its connection is checked out for a transaction', async () => {
    const application = `at_tx_${randomUUID().slice(0, 8)}`;
    const pool = new pg.Pool({ connectionString: named(application), max: 1 });
    pool.on('error', () => undefined);
    try {
      const outcome = inTransaction(pool, async (client) => {
        await client.query('SELECT 1');
        expect(await terminate(application)).toBe(1);
        // The server's notice arrives while the connection is checked out and idle in the
        // transaction: a client without an 'error' listener would throw it out of the event loop.
        await sleep(300);
        await client.query('SELECT 1');
      });
      await expect(outcome).rejects.toThrow(/terminat|Connection/i);
      // The broken connection was discarded: the pool works again.
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it('under load with its backends terminated again and again, stores or reports every record, and the chain stays valid', async () => {
    const application = `at_load_${randomUUID().slice(0, 8)}`;
    const table = 'terminated';
    const store = postgresStore({ connectionString: named(application), schema, table, poolSize: 3 });
    await store.migrate();
    const errors: AuditError[] = [];
    const auditor = createAuditor({
      store,
      batchSize: 50,
      flushIntervalMs: 5,
      maxQueueSize: 100_000,
      retry: { retries: 6, initialDelayMs: 20, maxDelayMs: 200 },
      onError: (error) => errors.push(error),
    });
    const accounts = ['acc_a', 'acc_b', null];
    let offered = 0;
    let terminated = 0;
    const killing = (async () => {
      for (let i = 0; i < 15; i++) {
        await sleep(60);
        terminated += await terminate(application);
      }
    })();
    const started = Date.now();
    while (Date.now() - started < 1_200) {
      for (let i = 0; i < 40; i++) {
        auditor.tryRecord({ action_type: 'refund', user: { id: 'usr_1' }, account_id: accounts[offered % 3], resource_id: `pay_${offered}` });
        offered++;
      }
      await sleep(2);
    }
    await killing;
    await auditor.flush();
    const stats = auditor.stats();
    expect(terminated).toBeGreaterThan(3); // backends really were terminated mid-load
    expect(stats.dropped).toBe(0);
    expect(stats.written + stats.failed).toBe(offered);
    expect(errors.filter((e) => e.code === 'store_failed').reduce((n, e) => n + e.records, 0)).toBe(stats.failed);
    const { rows } = await admin.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM ${schema}.${table}`);
    const { n, ids } = rows[0] as { n: number; ids: number };
    expect(n).toBe(ids);
    // A batch whose commit's answer was lost may count as failed although stored; nothing counts as stored that is not.
    expect(n).toBeGreaterThanOrEqual(stats.written);
    expect(n).toBeLessThanOrEqual(stats.written + stats.failed);
    expect(await verify(store, { hasher: nodeChainHasher() })).toMatchObject({ ok: true, verified: n });
    await auditor.close();
  }, 60_000);

  it('fails an append when the server refuses connections', async () => {
    const closedPort = new URL(databaseUrl);
    closedPort.port = '1';
    const store = postgresStore({ connectionString: closedPort.toString(), schema, table: 'refused', connectTimeoutMs: 1_000 });
    await expect(store.append([])).rejects.toThrow(/ECONNREFUSED|connect/);
    await store.close();
  });

  it('fails an append whose statement runs past statementTimeoutMs, without breaking the store', async () => {
    const table = 'slow';
    const store = postgresStore({ connectionString: databaseUrl, schema, table, statementTimeoutMs: 200 });
    await store.migrate();
    const holder = await admin.connect();
    try {
      // Another session holds the heads table: the append waits on its lock until the timeout.
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE ${schema}.${table}_chain_heads IN ACCESS EXCLUSIVE MODE`);
      const record = sampleRecord({ account_id: 'acc_slow' });
      await expect(store.append([record])).rejects.toMatchObject({ code: '57014' });
      await holder.query('ROLLBACK');
      await store.append([record]);
      expect(await store.get('acc_slow', record.id)).toEqual(record);
    } finally {
      holder.release();
      await store.close();
    }
  });
});
