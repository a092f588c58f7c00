import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditError, createAuditor, memoryStore, type AuditRecord, type Store } from '@audit-trail/core';
import { sampleRecord } from '@audit-trail/store-conformance';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spooled, sqliteStore, type SpooledStore } from './index.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-trail-spool-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const handle of opened.splice(0)) await handle.close();
});
const freshPath = () => path.join(dir, `${crypto.randomUUID()}.db`);
const open = (store: Store, options: Parameters<typeof spooled>[1]): SpooledStore => {
  const spool = spooled(store, options);
  opened.push(spool);
  return spool;
};
const batch = (n: number, account: string, from = 0): AuditRecord[] =>
  Array.from({ length: n }, (_, i) => sampleRecord({ account_id: account, details: { i: from + i } }));
const allOf = async (store: Store, account: string) => store.query({ accountId: account, filter: {}, order: 'asc', limit: 500 });

/**
 * A store that records the order in which it took records, and fails every
 * append while `down` is true.
 */
function flakyStore(inner: Store = memoryStore()) {
  const taken: string[] = [];
  const state = { down: false, failures: 0, calls: 0 };
  const store: Store = {
    async append(records) {
      state.calls++;
      if (state.down) {
        state.failures++;
        throw new Error('connection refused');
      }
      await inner.append(records);
      taken.push(...records.map((r) => r.id));
    },
    query: (q) => inner.query(q),
    get: (a, id) => inner.get(a, id),
    close: () => inner.close(),
  };
  return { store, taken, state };
}

describe('spooled', () => {
  it('forwards spooled records to the store, in order, and empties the spool', async () => {
    const { store, taken } = flakyStore();
    const spool = open(store, { path: freshPath() });
    const records = [...batch(30, 'acc_a'), ...batch(20, 'acc_b')];
    for (let i = 0; i < records.length; i += 7) await spool.append(records.slice(i, i + 7));
    await spool.drained();
    expect(taken).toEqual(records.map((r) => r.id));
    expect(await spool.get('acc_a', records[0]!.id)).toStrictEqual(records[0]);
    expect(spool.spoolStats()).toEqual({ records: 0, bytes: 0, oldestAgeMs: null });
  });

  it('holds records on disk while the store is down, then forwards every one once, in order', async () => {
    const { store, taken, state } = flakyStore();
    state.down = true;
    const errors: AuditError[] = [];
    const spool = open(store, { path: freshPath(), maxRetryDelayMs: 200, onForwardError: (error) => errors.push(error) });
    const records = batch(120, 'acc_down');
    for (let i = 0; i < records.length; i += 10) await spool.append(records.slice(i, i + 10));
    await new Promise((resolve) => setTimeout(resolve, 600));
    const waiting = spool.spoolStats();
    expect(waiting.records).toBe(120);
    expect(waiting.bytes).toBeGreaterThan(0);
    expect(waiting.oldestAgeMs).toBeGreaterThanOrEqual(0);
    expect(state.failures).toBeGreaterThan(1);
    expect(errors[0]!.code).toBe('store_failed');
    expect(errors[0]!.message).toMatch(/stay in the spool/);

    state.down = false;
    await spool.drained();
    expect(taken).toEqual(records.map((r) => r.id));
    expect(spool.spoolStats().records).toBe(0);
  });

  it("shows the spool's depth in auditor.stats() while the store is down, and empties once it is back", async () => {
    const { store, state } = flakyStore();
    state.down = true;
    const spool = open(store, { path: freshPath(), maxRetryDelayMs: 100, onForwardError: () => undefined });
    const auditor = createAuditor({ store: spool, onError: () => undefined });
    for (let i = 0; i < 25; i++) auditor.record({ action_type: 'refund', user: { id: 'usr_1' }, account_id: 'acc_stats' });
    await auditor.flush();
    const stats = auditor.stats();
    expect(stats.written).toBe(25);
    expect(stats.spool).toMatchObject({ records: 25, oldestAgeMs: expect.any(Number) });
    expect(stats.spool!.bytes).toBeGreaterThan(0);
    state.down = false;
    await spool.drained();
    expect(auditor.stats().spool).toEqual({ records: 0, bytes: 0, oldestAgeMs: null });
    expect(createAuditor({ store: memoryStore() }).stats()).not.toHaveProperty('spool');
  });

  it('forwards what a previous process left in the spool as soon as it opens', async () => {
    const file = freshPath();
    const down = flakyStore();
    down.state.down = true;
    const first = spooled(down.store, { path: file, closeTimeoutMs: 200 });
    const records = batch(25, 'acc_left');
    await first.append(records);
    // The store never came up: close leaves the records in the spool.
    await first.close();
    expect(down.taken).toEqual([]);

    const up = flakyStore();
    const second = open(up.store, { path: file });
    await second.ready;
    expect(second.spoolStats().records).toBe(25);
    // No append: the forwarder starts on its own.
    await second.drained();
    expect(up.taken).toEqual(records.map((r) => r.id));
  });

  it('forwards a batch again after a crash between the store taking it and the spool deleting it, stored once', async () => {
    const file = freshPath();
    const remote = path.join(dir, `${crypto.randomUUID()}-remote.db`);
    const target = sqliteStore({ database: remote });
    // A store that takes the batch and then reports failure: the spool cannot tell and keeps it.
    let lie = true;
    const store: Store = {
      append: async (records) => {
        await target.append(records);
        if (lie) {
          lie = false;
          throw new Error('connection reset after the commit');
        }
      },
      query: (q) => target.query(q),
      get: (a, id) => target.get(a, id),
      close: () => target.close(),
      scanChain: (...args) => target.scanChain!(...args),
    };
    const spool = open(store, { path: file, maxRetryDelayMs: 100 });
    const records = batch(10, 'acc_once');
    await spool.append(records);
    await spool.drained();
    expect((await allOf(spool, 'acc_once')).map((r) => r.id).sort()).toEqual(records.map((r) => r.id).sort());
    // One chain link per record: the second delivery stored nothing.
    expect(await spool.scanChain!('acc_once', null, 100)).toHaveLength(10);
  });

  it('refuses an append that would pass maxBytes with queue_full, which the auditor reports', async () => {
    const down = flakyStore();
    down.state.down = true;
    const spool = open(down.store, { path: freshPath(), maxBytes: 20_000 });
    const errors: AuditError[] = [];
    const auditor = createAuditor({ store: spool, onError: (error) => errors.push(error), retry: false });
    let refused: unknown = null;
    for (let i = 0; i < 100 && refused === null; i++) {
      refused = await spool.append(batch(5, 'acc_full', i * 5)).then(() => null, (error: unknown) => error);
    }
    expect(refused).toBeInstanceOf(AuditError);
    expect((refused as AuditError).code).toBe('queue_full');
    expect((refused as AuditError).message).toMatch(/the spool is full/);
    expect(spool.spoolStats().bytes).toBeLessThanOrEqual(20_000);
    await auditor.recordDurable({ action_type: 'refund', user: { id: 'usr_a' }, account_id: 'acc_full', details: { pad: 'x'.repeat(5000) } }).catch(() => undefined);
    expect(errors.some((e) => /the spool is full/.test(e.message))).toBe(true);
  });

  it('closes in bounded time while the store hangs, and keeps the records for the next start', async () => {
    const file = freshPath();
    const hanging: Store = {
      append: () => new Promise(() => undefined),
      query: async () => [],
      get: async () => null,
      close: async () => undefined,
    };
    const spool = spooled(hanging, { path: file, closeTimeoutMs: 300 });
    const records = batch(3, 'acc_hang');
    await spool.append(records);
    await spool.close();
    const memory = memoryStore();
    const next = open(memory, { path: file });
    await next.drained();
    expect((await allOf(memory, 'acc_hang')).map((r) => r.id).sort()).toEqual(records.map((r) => r.id).sort());
  });

  it('throws a TypeError naming the option', () => {
    expect(() => spooled(memoryStore(), {} as never)).toThrow(/path must be/);
    expect(() => spooled(memoryStore(), { path: freshPath(), maxBytes: 0 })).toThrow(/maxBytes/);
    expect(() => spooled(memoryStore(), { path: freshPath(), groupCommitMs: -1 })).toThrow(/groupCommitMs/);
    expect(() => spooled({} as never, { path: freshPath() })).toThrow(/must be a Store/);
  });
});
