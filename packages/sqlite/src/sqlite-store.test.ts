import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditError, memoryStore, type AuditRecord, type Store } from '@audit-trail/core';
import { newRecordId, type StoreQuery } from '@audit-trail/core/store';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SqliteDatabase } from './database.ts';
import { sqliteStore } from './index.ts';
import { INDEXES } from './schema.ts';
import { pageQuery } from './sqlite-store.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-trail-sqlite-'));
const file = path.join(dir, 'audit.db');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const opened: Array<Store | Database.Database> = [];
/** Closes what a test opened, also when it failed halfway. */
afterEach(async () => {
  for (const handle of opened.splice(0)) await handle.close();
});
/** Whether the store under test runs in a worker thread; each half of the suite sets it. */
let threaded = true;
/** The options with the suite's thread mode, for a path (a database object always stays on this thread). */
const withMode = (options: Parameters<typeof sqliteStore>[0]): Parameters<typeof sqliteStore>[0] =>
  typeof options.database === 'string' && options.thread === undefined && options.closeDatabase !== false ? { ...options, thread: threaded } : options;
const open = (options: Parameters<typeof sqliteStore>[0] = { database: file }): Store => {
  const store = sqliteStore(withMode(options));
  opened.push(store);
  return store;
};
const openDriver = (at = file): Database.Database => {
  const db = new Database(at);
  opened.push(db);
  return db;
};

const randomAccount = (): string => `acc_${crypto.randomUUID()}`;

function makeRecord(overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    id: newRecordId(),
    created: '2026-11-27T10:00:00.123Z',
    action_type: 'refund',
    resource: 'payment',
    resource_id: 'pay_123',
    user: { id: 'usr_alice', email: 'alice@example.com' },
    account_id: 'acc_acme',
    app_id: 'app_1',
    outcome: 'success',
    status_code: 201,
    request: {
      method: 'POST',
      path: '/payments/pay_123/refunds',
      route: '/payments/:payment_id/refunds',
      ip: '127.0.0.1',
      user_agent: 'curl/8.5',
      request_id: 'req_1',
    },
    trace: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' },
    details: { amount: 100, reason: 'duplicate', nested: { list: [1, 'two', null, true, 1.5] } },
    changes: null,
    ...overrides,
  };
}

/**
 * Every record of an account, paging through with `limit` in `order`. Fails
 * at the first record a page repeats, and after `maxPages` pages: a store that
 * ignores `after` would otherwise loop for ever (and, its promises resolving
 * at once, starve the test's timeout).
 */
async function pageThrough(store: Store, query: Omit<StoreQuery, 'after'>, maxPages = 1_000): Promise<string[]> {
  const ids: string[] = [];
  const seen = new Set<string>();
  let after: StoreQuery['after'] = null;
  for (let pages = 1; pages <= maxPages; pages++) {
    const page = await store.query({ ...query, after });
    for (const { id } of page) {
      if (seen.has(id)) throw new Error(`page ${pages} repeats record ${id} (limit ${query.limit}, order ${query.order})`);
      seen.add(id);
      ids.push(id);
    }
    if (page.length < query.limit) return ids;
    after = page.at(-1)!;
  }
  throw new Error(`paging did not end within ${maxPages} pages of ${query.limit}`);
}

describe.each([true, false])('sqliteStore (thread: %s)', (thread) => {
  beforeAll(() => {
    threaded = thread;
  });

  it('reads back exactly what was appended, nulls included', async () => {
    const store = open();
    const account = randomAccount();
    const full = makeRecord({ account_id: account, details: { emoji: '🧾', quote: `'";--`, big: 2 ** 53 - 1, neg: -0.25 } });
    const bare = makeRecord({
      account_id: account,
      resource_id: null,
      user: { id: 'usr_bob', email: null },
      app_id: null,
      status_code: null,
      request: { method: null, path: null, route: null, ip: null, user_agent: null, request_id: null },
      trace: null,
      details: {},
    });
    await store.append([full, bare]);

    expect(await store.get(account, full.id)).toStrictEqual(full);
    expect(await store.get(account, bare.id)).toStrictEqual(bare);
    const page = await store.query({ accountId: account, filter: {}, order: 'asc', limit: 10 });
    expect(page).toStrictEqual([full, bare].sort((a, b) => (a.id < b.id ? -1 : 1)));
  });

  it('keeps records without an account, visible to no account', async () => {
    const store = open();
    const orphan = makeRecord({ account_id: null });
    await store.append([orphan]);
    expect(await store.get('acc_acme', orphan.id)).toBeNull();
    expect(await store.get('', orphan.id)).toBeNull();
    const db = openDriver();
    const row = db.prepare('SELECT account_id FROM audit_records WHERE id = ?').get(orphan.id);
    expect(row).toEqual({ account_id: null });
  });

  it('finds a record only in its own account', async () => {
    const store = open();
    const record = makeRecord({ account_id: randomAccount() });
    await store.append([record]);
    expect(await store.get(randomAccount(), record.id)).toBeNull();
    expect(await store.get(record.account_id!, 'aud_missing')).toBeNull();
  });

  it('ignores a retried batch', async () => {
    const store = open();
    const account = randomAccount();
    const batch = [makeRecord({ account_id: account }), makeRecord({ account_id: account })];
    await store.append(batch);
    await store.append(batch);
    await store.append([{ ...batch[0]!, details: { changed: true } }]);
    const page = await store.query({ accountId: account, filter: {}, order: 'asc', limit: 10 });
    expect(page).toStrictEqual(batch);
  });

  it('stores all of a batch or none of it', async () => {
    const store = open();
    const account = randomAccount();
    const good = [makeRecord({ account_id: account }), makeRecord({ account_id: account })];
    // A record the schema refuses halfway through the batch (`action_type` is NOT NULL).
    const bad = makeRecord({ account_id: account, action_type: null as unknown as string });
    await expect(store.append([good[0]!, bad, good[1]!])).rejects.toThrow(/NOT NULL/);
    expect(await store.query({ accountId: account, filter: {}, order: 'asc', limit: 10 })).toEqual([]);

    await store.append(good);
    expect(await store.query({ accountId: account, filter: {}, order: 'asc', limit: 10 })).toHaveLength(2);
  });

  it('rejects a batch when the database is gone, and stores nothing', async () => {
    const db = new Database(file);
    const store = open({ database: db });
    const record = makeRecord({ account_id: randomAccount() });
    db.close();
    await expect(store.append([record])).rejects.toThrow(/not open/);

    const reopened = open();
    expect(await reopened.get(record.account_id!, record.id)).toBeNull();
  });

  it('keeps records across close and reopen', async () => {
    const account = randomAccount();
    const records = [makeRecord({ account_id: account }), makeRecord({ account_id: account, trace: null })];
    const first = sqliteStore(withMode({ database: file }));
    await first.append(records);
    await first.close();

    const second = open();
    expect(await second.query({ accountId: account, filter: {}, order: 'asc', limit: 10 })).toStrictEqual(records);
  });

  it('sets WAL, synchronous and busy_timeout', () => {
    const db = openDriver();
    open({ database: db, busyTimeout: 1234 });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(db.pragma('busy_timeout', { simple: true })).toBe(1234);

    const full = openDriver();
    open({ database: full, synchronous: 'full' });
    expect(full.pragma('synchronous', { simple: true })).toBe(2); // FULL
  });

  it('fills the hash-chain columns, and leaves them null with chain: false', async () => {
    const account = randomAccount();
    const chained = makeRecord({ account_id: account });
    await open().append([chained]);
    const plain = makeRecord({ account_id: account });
    const unchainedStore = open({ database: file, chain: false });
    await unchainedStore.append([plain]);
    expect(unchainedStore.scanChain).toBeUndefined();
    const db = openDriver();
    const columns = db.prepare('SELECT chain_seq, prev_hash, hash FROM audit_records WHERE id = ?');
    expect(columns.get(chained.id)).toEqual({ chain_seq: 1, prev_hash: '0'.repeat(64), hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(columns.get(plain.id)).toEqual({ chain_seq: null, prev_hash: null, hash: null });
  });

  it('fails with AuditError `closed` once closed, and closes twice harmlessly', async () => {
    const store = sqliteStore(withMode({ database: file }));
    await store.close();
    await store.close();
    const failure = await store.append([makeRecord()]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AuditError);
    expect((failure as AuditError).code).toBe('closed');
    await expect(store.query({ accountId: 'a', filter: {}, order: 'desc', limit: 1 })).rejects.toThrow(AuditError);
    await expect(store.get('a', 'b')).rejects.toThrow(AuditError);
  });

  describe('the database option', () => {
    it('accepts a better-sqlite3 Database and leaves it open by default', async () => {
      const db = openDriver();
      const store = sqliteStore({ database: db });
      const record = makeRecord({ account_id: randomAccount() });
      await store.append([record]);
      await store.close();
      expect(db.open).toBe(true);
      expect(db.prepare('SELECT id FROM audit_records WHERE id = ?').get(record.id)).toEqual({ id: record.id });
    });

    it('closes a database it was given when closeDatabase is true', async () => {
      const db = new Database(file);
      await sqliteStore({ database: db, closeDatabase: true }).close();
      expect(db.open).toBe(false);
    });

    it('closes a database it opened, unless closeDatabase is false', async () => {
      // SQLite removes the WAL file when the last connection to a database closes.
      const owned = path.join(dir, 'owned.db');
      await sqliteStore(withMode({ database: owned })).close();
      expect(fs.existsSync(`${owned}-wal`)).toBe(false);

      const kept = path.join(dir, 'kept.db');
      await sqliteStore({ database: kept, closeDatabase: false }).close();
      expect(fs.existsSync(`${kept}-wal`)).toBe(true);
    });

    it('accepts any object of the SqliteDatabase shape', async () => {
      const db = openDriver();
      const calls: string[] = [];
      const shaped: SqliteDatabase = {
        prepare(sql) {
          calls.push('prepare');
          const statement = db.prepare(sql);
          return {
            run: (...parameters) => statement.run(...parameters),
            all: (...parameters) => statement.all(...parameters),
            get: (...parameters) => statement.get(...parameters),
          };
        },
        exec(sql) {
          calls.push(sql.trim().split(/\s+/)[0]!);
          db.exec(sql);
        },
        close() {
          calls.push('close');
        },
      };
      const store = sqliteStore({ database: shaped });
      const record = makeRecord({ account_id: randomAccount() });
      await store.append([record]);
      expect(await store.get(record.account_id!, record.id)).toStrictEqual(record);
      await store.close();
      expect(calls).toContain('BEGIN');
      expect(calls).toContain('COMMIT');
      expect(calls).not.toContain('close');
    });

    it.each([
      [undefined, /options must be an object/],
      [{}, /database must be/],
      [{ database: '' }, /database must be/],
      [{ database: { prepare() {} } }, /database must be/],
      [{ database: file, busyTimeout: -1 }, /busyTimeout/],
      [{ database: file, busyTimeout: 1.5 }, /busyTimeout/],
      [{ database: file, synchronous: 'off' }, /synchronous/],
      [{ database: file, closeDatabase: 'yes' }, /closeDatabase/],
      [{ database: file, chain: 'on' }, /chain must be/],
      [{ database: file, chain: { key: 'short' } }, /chain\.key must be at least 16 bytes/],
      [{ database: file, thread: 'yes' }, /thread must be a boolean/],
      [{ database: file, thread: true, closeDatabase: false }, /closeDatabase: false needs thread: false/],
    ])('throws a TypeError naming the option for %o', (options, message) => {
      expect(() => sqliteStore(options as never)).toThrow(TypeError);
      expect(() => sqliteStore(options as never)).toThrow(message);
    });
  });

  describe('query', () => {
    const actions = ['refund', 'capture', 'charge', 'void'];
    const users = ['usr_a', 'usr_b', 'usr_c'];
    /** Many records over few instants, so that `id` often breaks ties in `created`. */
    const records = (account: string, count: number): AuditRecord[] =>
      Array.from({ length: count }, (_, i) =>
        makeRecord({
          id: `aud_${String((i * 7919) % count).padStart(4, '0')}_${account}`,
          account_id: account,
          created: `2026-01-01T00:00:0${i % 7}.00${i % 3}Z`,
          action_type: actions[i % 4]!,
          resource_id: `pay_${i % 5}`,
          user: { id: users[i % 3]!, email: i % 2 ? `${users[i % 3]}@example.com` : null },
          app_id: i % 4 === 0 ? null : `app_${i % 2}`,
          outcome: i % 6 === 0 ? 'failure' : 'success',
        }),
      );

    it('pages like the memory store, for every filter and order', async () => {
      const account = randomAccount();
      const other = randomAccount();
      const mine = records(account, 240);
      const theirs = records(other, 60);
      const sqlite = open();
      const memory = memoryStore();
      for (const store of [sqlite, memory]) {
        for (let i = 0; i < mine.length; i += 50) await store.append(mine.slice(i, i + 50));
        await store.append(theirs);
      }

      const filters: StoreQuery['filter'][] = [
        {},
        { actionTypes: ['refund'] },
        { actionTypes: ['refund', 'void'] },
        { userId: 'usr_b' },
        { userId: 'usr_b', actionTypes: ['capture', 'charge'] },
        { resourceId: 'pay_3' },
        { resourceId: 'pay_3', userId: 'usr_a', actionTypes: ['refund'] },
        { resource: 'payment', outcome: 'failure' },
        { userEmail: 'usr_b@example.com' },
        { appId: 'app_1' },
        { from: '2026-01-01T00:00:02.001Z' },
        { to: '2026-01-01T00:00:04.000Z' },
        { from: '2026-01-01T00:00:01.000Z', to: '2026-01-01T00:00:05.002Z', actionTypes: ['charge'] },
        { from: '2026-01-01T00:00:05.000Z', to: '2026-01-01T00:00:01.000Z' },
        { actionTypes: ['create_payment'] },
      ];
      for (const filter of filters) {
        for (const order of ['desc', 'asc'] as const) {
          for (const limit of [1, 7, 500]) {
            const query = { accountId: account, filter, order, limit };
            const expected = await pageThrough(memory, query);
            expect(await pageThrough(sqlite, query), JSON.stringify(query)).toEqual(expected);
          }
        }
      }
      expect(await pageThrough(sqlite, { accountId: account, filter: {}, order: 'asc', limit: 1000 })).toHaveLength(240);
    });

    it('starts strictly after the position, also at a position that is not a record', async () => {
      const account = randomAccount();
      const sqlite = open();
      const memory = memoryStore();
      const mine = records(account, 40);
      await sqlite.append(mine);
      await memory.append(mine);
      const positions = [mine[10]!, { created: '2026-01-01T00:00:03.001Z', id: 'aud_zzz' }, { created: '2026-01-01T00:00:03.001Z', id: '' }];
      for (const after of positions) {
        for (const order of ['desc', 'asc'] as const) {
          const query = { accountId: account, filter: { from: '2026-01-01T00:00:01.000Z' }, order, limit: 500, after };
          expect((await sqlite.query(query)).map((r) => r.id)).toEqual((await memory.query(query)).map((r) => r.id));
        }
      }
    });
  });

  describe('query plans', () => {
    const shapes: Array<[string, StoreQuery['filter'], string]> = [
      ['no filter', {}, INDEXES.created],
      ['a time range', { from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z' }, INDEXES.created],
      ['one action type', { actionTypes: ['refund'] }, INDEXES.actionType],
      ['one action type in a time range', { actionTypes: ['refund'], from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z' }, INDEXES.actionType],
      ['several action types', { actionTypes: ['refund', 'void', 'capture'] }, INDEXES.created],
      ['a user', { userId: 'usr_alice', from: '2026-01-01T00:00:00.000Z' }, INDEXES.userId],
      ['a user and an action type', { userId: 'usr_alice', actionTypes: ['refund'] }, INDEXES.userId],
      ['a resource', { resourceId: 'pay_1', to: '2026-02-01T00:00:00.000Z' }, INDEXES.resourceId],
      ['unindexed filters', { resource: 'payment', outcome: 'failure', appId: 'app_1', userEmail: 'a@b.c' }, INDEXES.created],
    ];
    const positions = [null, { created: '2026-01-15T00:00:00.000Z', id: 'aud_x' }];

    it.each(shapes)('%s: a range scan of one account in index order', (_, filter, index) => {
      const db = openDriver();
      open({ database: db });
      for (const order of ['desc', 'asc'] as const) {
        for (const after of positions) {
          const { sql, parameters } = pageQuery({ accountId: 'acc_acme', filter, order, limit: 50, after });
          const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...parameters) as Array<{ detail: string }>;
          const plan = rows.map((r) => r.detail).join('\n');
          expect(plan).toMatch(new RegExp(`^SEARCH audit_records USING (COVERING )?INDEX ${index} \\(account_id=\\?`));
          expect(plan).not.toMatch(/TEMP B-TREE|SCAN/);
          // Both ends of the range are in the index search when the query bounds both.
          if (after && filter.from && order === 'desc') expect(plan).toContain('(created,id)>(?,?) AND (created,id)<(?,?)');
        }
      }
    });

    it('looks a record up by its primary key', () => {
      const db = openDriver();
      open({ database: db });
      const plan = db.prepare('EXPLAIN QUERY PLAN SELECT * FROM audit_records WHERE id = ? AND account_id = ?').all('a', 'b');
      expect(JSON.stringify(plan)).toContain('USING INDEX sqlite_autoindex_audit_records_1 (id=?)');
    });
  });
});
