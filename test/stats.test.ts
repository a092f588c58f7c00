import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryStore, type AuditRecord, type Store } from '@audit-trail/core';
import { auditStats, statsByPaging, type StoreFilter } from '@audit-trail/core/store';
import { postgresStore } from '@audit-trail/postgres';
import { sqliteStore } from '@audit-trail/sqlite';
import { sampleRecord } from '@audit-trail/store-conformance';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

// Every store's own `stats` (GROUP BY in SQLite and PostgreSQL, a scan in
// memory) gives what counting record by record through `query` gives, for
// every filter, both intervals, and bucket edges exact to the millisecond.

const HOUR = 3_600_000;
const base = Date.parse('2026-11-20T00:00:00.000Z');

/** 1,500 records over ten days, in two accounts, with edge instants at whole hours and one millisecond before. */
function records(): AuditRecord[] {
  const out: AuditRecord[] = [];
  const actions = ['refund', 'charge', 'void'] as const;
  for (let i = 0; i < 1500; i++) {
    const at = base + ((i * 7919 * 60_000) % (10 * 24 * HOUR)) + (i % 5 === 0 ? 0 : i % 5 === 1 ? HOUR - 1 : (i * 37) % HOUR);
    const failed = i % 4 === 0 || i % 5 === 2;
    out.push(
      sampleRecord({
        created: new Date(at).toISOString(),
        account_id: i % 10 === 0 ? 'acc_other' : 'acc_acme',
        action_type: actions[i % 3],
        resource_id: `pay_${i % 7}`,
        app_id: i % 2 === 0 ? 'app_1' : 'app_2',
        outcome: failed ? 'failure' : 'success',
        status_code: failed ? 500 : 201,
        user: { id: i % 3 === 0 ? 'usr_bob' : 'usr_alice' },
      }),
    );
  }
  return out;
}

const FILTERS: Array<[string, StoreFilter]> = [
  ['no filter', {}],
  ['one action type', { actionTypes: ['refund'] }],
  ['two action types', { actionTypes: ['refund', 'void'] }],
  ['resource id', { resourceId: 'pay_3' }],
  ['user and outcome', { userId: 'usr_bob', outcome: 'failure' }],
  ['app', { appId: 'app_2' }],
  ['a range inside', { from: '2026-11-22T05:30:00.000Z', to: '2026-11-25T00:00:00.001Z' }],
];

const kinds: Array<{ name: string; open: () => Promise<Store> }> = [
  { name: 'memory', open: async () => memoryStore() },
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'audit-stats-'));
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      return sqliteStore({ database: join(dir, 'audit.db') });
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const store = postgresStore({ connectionString: inject('databaseUrl'), schema: `stats_${Date.now().toString(36)}` });
      await store.migrate();
      return store;
    },
  },
];

for (const kind of kinds) {
  describe(`${kind.name} store: stats`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await kind.open();
      await store.append(records());
    });
    afterAll(async () => {
      await store?.close();
    });

    it('has its own stats', () => {
      expect(typeof store.stats).toBe('function');
    });

    for (const [name, filter] of FILTERS) {
      for (const interval of ['hour', 'day'] as const) {
        it(`counts as paging through query does: ${name}, per ${interval}`, async () => {
          const to = filter.to ?? '2026-12-01T00:00:00.000Z';
          const from = filter.from ?? '2026-11-19T00:00:00.000Z';
          const own = await auditStats(store, 'acc_acme', { ...filter, from, to }, interval);
          const paged = await auditStats({ ...store, stats: undefined }, 'acc_acme', { ...filter, from, to }, interval);
          expect(own).toEqual(paged);
          const total = own.buckets.reduce((n, b) => n + b.count, 0);
          expect(total).toBeGreaterThan(0);
          expect(own.buckets.some((b) => b.failures > 0)).toBe(true);
          expect(own.buckets.some((b) => b.count === 0)).toBe(true);
        });
      }
    }

    it('counts only the account asked for, and nothing outside [from, to)', async () => {
      const query = { accountId: 'acc_other', filter: { from: '2026-11-19T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z' }, interval: 'day' as const };
      const own = await store.stats!(query);
      expect(own.reduce((n, b) => n + b.count, 0)).toBe(150);
      const edge = await store.stats!({ accountId: 'acc_acme', filter: { from: '2026-11-20T00:59:59.999Z', to: '2026-11-20T01:00:00.000Z' }, interval: 'hour' });
      expect(edge).toEqual(await statsByPaging(store, { accountId: 'acc_acme', filter: { from: '2026-11-20T00:59:59.999Z', to: '2026-11-20T01:00:00.000Z' }, interval: 'hour' }));
    });
  });
}
