import { afterEach, describe, expect, it } from 'vitest';
import { createAuditor, type ActionInput, type Auditor } from './auditor.ts';
import type { PaymentsOsActionType } from './catalog.ts';
import { AuditError } from './errors.ts';
import { memoryStore } from './memory-store.ts';
import type { AuditRecord } from './record.ts';
import type { Store } from './store.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const action = (resource_id = 'pay_1', action_type: PaymentsOsActionType = 'refund'): ActionInput<PaymentsOsActionType> => ({
  action_type,
  resource_id,
  user: { id: 'usr_1' },
  account_id: 'acc_1',
  status_code: 201,
});

/** A store whose appends fail while `failing` is set, and hang while `gate` is shut. */
function faultyStore() {
  const inner = memoryStore();
  const state = {
    failing: 0,
    attempts: [] as number[],
    gate: null as Promise<void> | null,
    open: () => {},
    shut() {
      state.gate = new Promise<void>((resolve) => (state.open = resolve));
    },
  };
  const store: Store = {
    async append(records) {
      state.attempts.push(Date.now());
      if (state.gate) await state.gate;
      if (state.failing > 0) {
        state.failing--;
        throw new Error('connection reset');
      }
      await inner.append(records);
    },
    query: (q) => inner.query(q),
    get: (a, id) => inner.get(a, id),
    close: () => inner.close(),
  };
  const all = () => inner.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 100_000 });
  return { store, state, all };
}

const open: Auditor<any>[] = [];
function auditorOn(store: Store, options: Omit<Parameters<typeof createAuditor>[0], 'store'> = {}) {
  const errors: AuditError[] = [];
  const auditor = createAuditor({ store, flushIntervalMs: 1, onError: (e) => errors.push(e), ...options });
  open.push(auditor);
  return { auditor, errors };
}
afterEach(async () => {
  await Promise.race([Promise.allSettled(open.splice(0).map((a) => a.close())), sleep(200)]);
});

describe('retries', () => {
  it('retries a failed batch with backoff until it is stored, counting retried records, reporting nothing', async () => {
    const { store, state, all } = faultyStore();
    state.failing = 2;
    const { auditor, errors } = auditorOn(store, { retry: { retries: 3, initialDelayMs: 20, maxDelayMs: 1000 } });
    auditor.record(action('a'));
    auditor.record(action('b'));
    await auditor.flush();
    expect((await all()).map((r) => r.resource_id)).toEqual(['a', 'b']);
    expect(state.attempts).toHaveLength(3);
    expect(auditor.stats()).toEqual({ queued: 0, written: 2, dropped: 0, failed: 0, retried: 4, lastDropAt: null, lastFailureAt: null });
    expect(errors).toEqual([]);
  });

  it('gives up after the configured retries and reports store_failed once for the batch', async () => {
    const { store, state, all } = faultyStore();
    state.failing = 10;
    const { auditor, errors } = auditorOn(store, { retry: { retries: 2, initialDelayMs: 5 } });
    auditor.record(action());
    await auditor.flush();
    expect(state.attempts).toHaveLength(3);
    expect(await all()).toEqual([]);
    expect(auditor.stats()).toEqual({ queued: 0, written: 0, dropped: 0, failed: 1, retried: 2, lastDropAt: null, lastFailureAt: expect.any(String) });
    expect(errors.map((e) => e.code)).toEqual(['store_failed']);
  });

  it('spreads retries with exponential backoff and full jitter, never above maxDelayMs', async () => {
    const { store, state } = faultyStore();
    state.failing = 4;
    const { auditor } = auditorOn(store, { retry: { retries: 4, initialDelayMs: 40, maxDelayMs: 60 } });
    auditor.record(action());
    await auditor.flush();
    const gaps = state.attempts.slice(1).map((t, i) => t - state.attempts[i]!);
    expect(gaps).toHaveLength(4);
    // Full jitter: each wait is somewhere in [0, min(max, initial·2^n)] (plus timer slack).
    expect(Math.max(...gaps)).toBeLessThanOrEqual(60 + 30);
  });

  it('does not retry errors that isTransient rejects', async () => {
    const { store, state } = faultyStore();
    state.failing = 5;
    const { auditor } = auditorOn(store, { retry: { retries: 5, initialDelayMs: 1, isTransient: () => false } });
    auditor.record(action());
    await auditor.flush();
    expect(state.attempts).toHaveLength(1);
    expect(auditor.stats().failed).toBe(1);
  });

  it('rejects bad retry options at setup, naming them', () => {
    expect(() => createAuditor({ store: memoryStore(), retry: { retries: -1 } })).toThrow(/retry\.retries/);
    expect(() => createAuditor({ store: memoryStore(), retry: { initialDelayMs: 0 } })).toThrow(/retry\.initialDelayMs/);
    expect(() => createAuditor({ store: memoryStore(), overflow: 'drop-all' as never })).toThrow(/overflow/);
    expect(() => createAuditor({ store: memoryStore(), requiredActions: ['nope' as never] })).toThrow(/requiredActions/);
  });
});

describe('a full queue', () => {
  it('drop-newest (default) refuses the new record and keeps the queued ones', async () => {
    const { store, state, all } = faultyStore();
    state.shut();
    const { auditor, errors } = auditorOn(store, { maxQueueSize: 3, batchSize: 1 });
    for (const id of ['a', 'b', 'c']) auditor.record(action(id));
    await sleep(5); // 'a' is in flight (it counts against the bound until stored); 'b', 'c' wait
    expect(() => auditor.record(action('d'))).toThrow(AuditError);
    expect(() => auditor.record(action('e'))).toThrow(/queue is full/);
    state.open();
    state.gate = null;
    await auditor.flush();
    expect((await all()).map((r) => r.resource_id)).toEqual(['a', 'b', 'c']);
    expect(auditor.stats()).toMatchObject({ written: 3, dropped: 2 });
    expect(errors.map((e) => [e.code, e.records])).toEqual([['queue_full', 2]]);
  });

  it('drop-oldest drops the oldest waiting record to make room, and reports it', async () => {
    const { store, state, all } = faultyStore();
    state.shut();
    const { auditor, errors } = auditorOn(store, { maxQueueSize: 3, batchSize: 1, overflow: 'drop-oldest' });
    for (const id of ['a', 'b', 'c']) auditor.record(action(id));
    await sleep(5);
    auditor.record(action('d'));
    auditor.record(action('e'));
    state.open();
    state.gate = null;
    await auditor.flush();
    // 'a' was in flight; 'b' then 'c' made room for 'd' and 'e'.
    expect((await all()).map((r) => r.resource_id)).toEqual(['a', 'd', 'e']);
    expect(auditor.stats()).toMatchObject({ written: 3, dropped: 2, queued: 0 });
    expect(errors.map((e) => [e.code, e.records])).toEqual([['queue_full', 2]]);
    expect(errors[0]!.message).toMatch(/2 record\(s\) were dropped/);
  });

  it('drop-oldest refuses an awaited record (recordDurable, as required actions use) rather than displacing a queued one', async () => {
    const { store, state, all } = faultyStore();
    state.shut();
    const { auditor, errors } = auditorOn(store, {
      maxQueueSize: 3,
      batchSize: 1,
      overflow: 'drop-oldest',
      durableTimeoutMs: 60_000,
    });
    for (const id of ['a', 'b', 'c']) auditor.record(action(id));
    await sleep(5);
    // 'a' is in flight; with 'b' and 'c' the queue is full.
    const durable = auditor.recordDurable(action('durable')).then(
      () => 'stored',
      (error: unknown) => (error instanceof AuditError ? error.code : 'other'),
    );
    // Refused at once: it would otherwise wait for the shut store.
    expect(await Promise.race([durable, sleep(2_000).then(() => 'still waiting')])).toBe('queue_full');
    expect(auditor.stats()).toMatchObject({ queued: 3, dropped: 1 });
    state.open();
    state.gate = null;
    await auditor.flush();
    expect((await all()).map((r) => r.resource_id)).toEqual(['a', 'b', 'c']);
    expect(errors.map((e) => [e.code, e.records])).toEqual([['queue_full', 1]]);
  });

  it('keeps memory bounded however long the store hangs: at most the queue bound plus one batch waits', async () => {
    const { store, state } = faultyStore();
    state.shut();
    const { auditor } = auditorOn(store, { maxQueueSize: 50, batchSize: 10 });
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      try {
        auditor.record(action(`r${i}`));
      } catch {
        refused++;
      }
    }
    const s = auditor.stats();
    expect(s.queued).toBe(50);
    expect(s.dropped).toBe(refused);
    expect(s.queued + s.dropped).toBe(5000);
    expect(state.attempts).toHaveLength(1); // one batch in flight, no pile of abandoned writes
    state.open();
  });
});

describe('drops reported in aggregate', () => {
  it('reports a flood of drops once per interval, with the count and the interval', async () => {
    const { store, state } = faultyStore();
    state.shut();
    const { auditor, errors } = auditorOn(store, { maxQueueSize: 10, batchSize: 10, dropReportIntervalMs: 100 });
    for (let i = 0; i < 2_000; i++) auditor.tryRecord(action(`r${i}`));
    expect(errors).toEqual([]);
    await sleep(150);
    expect(errors.map((e) => [e.code, e.records])).toEqual([['queue_full', 1_990]]);
    const [, start, end] = /between (\S+) and (\S+)$/.exec(errors[0]!.message) ?? [];
    expect(Date.parse(end!) - Date.parse(start!)).toBeGreaterThanOrEqual(90);
    // A second flood, a second interval, a second report.
    for (let i = 0; i < 500; i++) auditor.tryRecord(action(`s${i}`));
    await sleep(150);
    expect(errors.map((e) => [e.code, e.records])).toEqual([['queue_full', 1_990], ['queue_full', 500]]);
    const stats = auditor.stats();
    expect(stats.dropped).toBe(2_490);
    expect(Date.parse(stats.lastDropAt!)).toBeGreaterThanOrEqual(Date.parse(end!));
    state.open();
  });

  it('builds no record for an action it is going to drop', async () => {
    const { store, state } = faultyStore();
    state.shut();
    const { auditor } = auditorOn(store, { maxQueueSize: 2, batchSize: 10 });
    let reads = 0;
    const spied = () => ({
      ...action(),
      details: {
        get amount() {
          reads++;
          return 5;
        },
      },
    });
    auditor.tryRecord(spied());
    auditor.tryRecord(spied());
    const readsWhenFull = reads;
    expect(readsWhenFull).toBeGreaterThan(0); // building a record reads its details
    auditor.tryRecord(spied());
    expect(() => auditor.record(spied())).toThrow(/queue is full/);
    await expect(auditor.recordDurable(spied())).rejects.toMatchObject({ code: 'queue_full' });
    expect(reads).toBe(readsWhenFull);
    expect(auditor.stats()).toMatchObject({ queued: 2, dropped: 3 });
    state.open();
  });

  it('tells when the trail has a gap: lastDropAt and lastFailureAt stay after later writes succeed', async () => {
    const { store, state } = faultyStore();
    const { auditor } = auditorOn(store, { maxQueueSize: 1, batchSize: 1, retry: false, flushIntervalMs: 60_000 });
    expect(auditor.stats()).toMatchObject({ lastDropAt: null, lastFailureAt: null });
    state.failing = 1;
    const before = Date.now();
    auditor.record(action('fails'));
    auditor.tryRecord(action('dropped'));
    await auditor.flush();
    auditor.record(action('stored'));
    await auditor.flush();
    const stats = auditor.stats();
    expect(stats).toMatchObject({ written: 1, failed: 1, dropped: 1 });
    expect(Date.parse(stats.lastDropAt!)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(stats.lastFailureAt!)).toBeGreaterThanOrEqual(Date.parse(stats.lastDropAt!));
  });
});

describe('recordDurable', () => {
  it('writes at once, without waiting for the batch interval', async () => {
    const { store, all } = faultyStore();
    const { auditor } = auditorOn(store, { flushIntervalMs: 60_000 });
    const record = await auditor.recordDurable(action('now'));
    expect((await all()).map((r) => r.id)).toEqual([record.id]);
  });

  it('is told when the store does not confirm in time, while the write goes on', async () => {
    const { store, state, all } = faultyStore();
    state.shut();
    const { auditor } = auditorOn(store, { durableTimeoutMs: 30 });
    const error = await auditor.recordDurable(action('slow')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuditError);
    expect((error as AuditError).code).toBe('store_failed');
    expect((error as AuditError).message).toMatch(/did not confirm/);
    state.open();
    await auditor.flush();
    expect((await all()).map((r) => r.resource_id)).toEqual(['slow']);
  });

  it('returns a copy: changing it cannot change what is stored', async () => {
    const { store, all } = faultyStore();
    const { auditor } = auditorOn(store);
    const record = auditor.record(action('orig')) as AuditRecord;
    record.resource_id = 'changed';
    await auditor.flush();
    expect((await all())[0]!.resource_id).toBe('orig');
  });
});

describe('requiredActions', () => {
  it('marks the configured actions as fail-closed', () => {
    const auditor = createAuditor({ store: memoryStore(), requiredActions: ['replace_authentication_keys', 'update_user_permissions'] });
    expect(auditor.isRequired('replace_authentication_keys')).toBe(true);
    expect(auditor.isRequired('update_user_permissions')).toBe(true);
    expect(auditor.isRequired('refund')).toBe(false);
    // @ts-expect-error a required action outside the catalog is a compile error
    expect(() => createAuditor({ store: memoryStore(), requiredActions: ['refnd'] })).toThrow(TypeError);
  });
});

describe('validation', () => {
  it('never lets a record through that the schema would refuse (property)', async () => {
    const { default: fc } = await import('fast-check');
    const { auditRecordSchema } = await import('./record.ts');
    const auditor = createAuditor({ store: memoryStore(), flushIntervalMs: 60_000, maxQueueSize: 1_000_000 });
    open.push(auditor);
    const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdefA'), minLength: n, maxLength: n });
    const loose = fc.oneof(fc.string(), fc.constant(null), fc.constant(undefined), fc.integer(), fc.double(), fc.boolean());
    const input = fc.record({
      action_type: fc.constantFrom('refund', 'void', 'nope', 'toString'),
      user: fc.oneof(fc.record({ id: loose, email: loose }), fc.constant(null)),
      account_id: loose,
      app_id: loose,
      resource_id: loose,
      outcome: fc.oneof(fc.constantFrom('success', 'failure', 'maybe'), fc.constant(undefined)),
      status_code: fc.oneof(fc.integer({ min: 0, max: 700 }), fc.double(), fc.constant(null), fc.constant(undefined)),
      trace: fc.oneof(
        fc.constant(null),
        fc.record({ trace_id: fc.oneof(hex(32), fc.string()), span_id: fc.oneof(hex(16), fc.string()) }),
      ),
      request: fc.record({ method: loose, path: loose, route: loose, ip: loose, user_agent: loose, request_id: loose }),
    });
    fc.assert(
      fc.property(input, (candidate) => {
        let record: AuditRecord;
        try {
          record = auditor.record(candidate as never) as AuditRecord;
        } catch (error) {
          expect((error as AuditError).code).toBe('invalid_record');
          return;
        }
        expect(auditRecordSchema.safeParse(record).success).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
