import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import { createAuditor, type ActionInput, type Auditor } from './auditor.ts';
import { defineCatalog, type PaymentsOsActionType } from './catalog.ts';
import { AuditError, type AuditErrorCode } from './errors.ts';
import { memoryStore } from './memory-store.ts';
import { auditRecordSchema, type AuditRecord } from './record.ts';
import { REDACTED } from './redact.ts';
import type { Store } from './store.ts';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface SpyStore extends Store {
  /** Every batch `append` was called with, in call order. */
  batches: AuditRecord[][];
  /** `append:<n>` and `close`, in order. */
  events: string[];
  /** Ids of records the store has taken. */
  written: string[];
  closeCalls: number;
}

/**
 * A memory store that remembers its calls. `before` runs at the start of each
 * append (call index from 0) and may delay it or throw.
 */
function spyStore(before?: (call: number, records: readonly AuditRecord[]) => void | Promise<void>): SpyStore {
  const inner = memoryStore();
  const spy: SpyStore = {
    batches: [],
    events: [],
    written: [],
    closeCalls: 0,
    async append(records) {
      const call = spy.batches.length;
      spy.batches.push([...records]);
      spy.events.push(`append:${records.length}`);
      await before?.(call, records);
      await inner.append(records);
      spy.written.push(...records.map((r) => r.id));
    },
    query: (q) => inner.query(q),
    get: (accountId, id) => inner.get(accountId, id),
    async close() {
      spy.closeCalls++;
      spy.events.push('close');
      await inner.close();
    },
  };
  return spy;
}

/** A store whose appends wait until the test opens their gate, one gate per call. */
function gatedStore() {
  const gates: ReturnType<typeof deferred<void>>[] = [];
  const store = spyStore(async (call) => {
    gates[call] ??= deferred();
    await gates[call]!.promise;
  });
  const gate = (call: number) => (gates[call] ??= deferred());
  return { store, open: (call: number) => gate(call).resolve(), fail: (call: number, error: unknown) => gate(call).reject(error) };
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function expectAuditError(error: unknown, code: AuditErrorCode): AuditError {
  expect(error).toBeInstanceOf(AuditError);
  expect((error as AuditError).code).toBe(code);
  return error as AuditError;
}

const alice = { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_acme' };
const refund = (extra: Partial<ActionInput<PaymentsOsActionType>> = {}): ActionInput<PaymentsOsActionType> => ({
  action_type: 'refund',
  resource_id: 'pay_1',
  ...alice,
  ...extra,
});

const RECORD_KEYS = [
  'account_id',
  'action_type',
  'app_id',
  'changes',
  'created',
  'details',
  'id',
  'outcome',
  'request',
  'resource',
  'resource_id',
  'status_code',
  'trace',
  'user',
];
const TRACE = { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' };

/** Collects onError calls; an auditor created in a test is closed after it. */
let errors: AuditError[];
let auditors: Auditor<any>[];
const onError = (error: AuditError) => errors.push(error);
function auditorFor(store: Store, options: Omit<Parameters<typeof createAuditor>[0], 'store'> = {}): Auditor {
  const auditor = createAuditor({ store, onError, retry: false, ...options }) as Auditor;
  auditors.push(auditor);
  return auditor;
}

/** Fails the test on any unhandled rejection while it runs. */
let unhandled: Mock<(reason: unknown) => void>;
beforeEach(() => {
  errors = [];
  auditors = [];
  unhandled = vi.fn<(reason: unknown) => void>();
  process.on('unhandledRejection', unhandled);
});
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  // A test that left a gate shut must not hang the suite.
  await Promise.race([Promise.allSettled(auditors.map((a) => a.close())), sleep(500)]);
  // Let stray rejections surface before looking.
  await sleep(5);
  process.off('unhandledRejection', unhandled);
  expect(unhandled).not.toHaveBeenCalled();
});

describe('createAuditor: configuration', () => {
  it('requires a store', () => {
    expect(() => createAuditor({} as never)).toThrow(TypeError);
    expect(() => createAuditor(undefined as never)).toThrow(/store/);
    expect(() => createAuditor({ store: { append: async () => {} } } as never)).toThrow(/store/);
  });

  it.each(['batchSize', 'flushIntervalMs', 'maxQueueSize'])('rejects a %s that is not a positive integer, naming it', (name) => {
    for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const options = { store: memoryStore(), [name]: value } as Parameters<typeof createAuditor>[0];
      expect(() => createAuditor(options)).toThrow(TypeError);
      expect(() => createAuditor(options)).toThrow(name);
    }
  });

  it('rejects bad redaction options at setup', () => {
    expect(() => createAuditor({ store: memoryStore(), redaction: { maxDetailsBytes: 10 } })).toThrow(TypeError);
  });
});

describe('record', () => {
  it('stamps id, created and resource, and keeps what it was given', async () => {
    const store = spyStore();
    const auditor = auditorFor(store);
    const record = auditor.record(
      refund({
        app_id: 'app_1',
        status_code: 201,
        request: {
          method: 'POST',
          path: '/payments/pay_1/refunds',
          route: '/payments/:payment_id/refunds',
          ip: '127.0.0.1',
          user_agent: 'curl/8.5',
          request_id: 'req_1',
        },
        trace: TRACE,
        details: { amount: 100, currency: 'USD' },
        completed_at: new Date('2026-11-27T10:00:00.123Z'),
      }),
    );
    expect(record).toEqual({
      id: expect.stringMatching(/^aud_[0-9A-HJKMNP-TV-Z]{26}$/),
      created: '2026-11-27T10:00:00.123Z',
      action_type: 'refund',
      resource: 'payment',
      resource_id: 'pay_1',
      user: { id: 'usr_alice', email: 'alice@example.com' },
      account_id: 'acc_acme',
      app_id: 'app_1',
      outcome: 'success',
      status_code: 201,
      request: {
        method: 'POST',
        path: '/payments/pay_1/refunds',
        route: '/payments/:payment_id/refunds',
        ip: '127.0.0.1',
        user_agent: 'curl/8.5',
        request_id: 'req_1',
      },
      trace: TRACE,
      details: { amount: 100, currency: 'USD' },
      changes: null,
    });
    expect(Object.keys(record).sort()).toEqual(RECORD_KEYS);
    expect(auditRecordSchema.parse(record)).toEqual(record);
    await auditor.flush();
    expect(store.batches).toEqual([[record]]);
    expect(await store.get('acc_acme', record.id)).toEqual(record);
  });

  it('fills what is unknown with null', () => {
    const auditor = auditorFor(memoryStore());
    const record = auditor.record({ action_type: 'generate_report', user: { id: 'usr_cron' } });
    expect(record).toEqual({
      id: expect.any(String),
      created: expect.any(String),
      action_type: 'generate_report',
      resource: 'report',
      resource_id: null,
      user: { id: 'usr_cron', email: null },
      account_id: null,
      app_id: null,
      outcome: 'success',
      status_code: null,
      request: { method: null, path: null, route: null, ip: null, user_agent: null, request_id: null },
      trace: null,
      details: {},
      changes: null,
    });
    expect(auditor.record({ action_type: 'generate_report', user: { id: 'u' }, request: { method: 'GET' } }).request).toEqual({
      method: 'GET',
      path: null,
      route: null,
      ip: null,
      user_agent: null,
      request_id: null,
    });
  });

  it('sets created to completed_at, or to now when absent', () => {
    const auditor = auditorFor(memoryStore());
    const at = new Date('2020-02-29T23:59:59.999Z');
    expect(auditor.record(refund({ completed_at: at })).created).toBe('2020-02-29T23:59:59.999Z');
    const before = Date.now();
    const created = Date.parse(auditor.record(refund()).created);
    expect(created).toBeGreaterThanOrEqual(before);
    expect(created).toBeLessThanOrEqual(Date.now());
  });

  it('derives the outcome from the status code unless given', () => {
    const auditor = auditorFor(memoryStore());
    const outcome = (extra: Partial<ActionInput<PaymentsOsActionType>>) => auditor.record(refund(extra)).outcome;
    expect(outcome({ status_code: 100 })).toBe('success');
    expect(outcome({ status_code: 204 })).toBe('success');
    expect(outcome({ status_code: 399 })).toBe('success');
    expect(outcome({ status_code: 400 })).toBe('failure');
    expect(outcome({ status_code: 404 })).toBe('failure');
    expect(outcome({ status_code: 499 })).toBe('failure');
    expect(outcome({ status_code: 503 })).toBe('failure');
    expect(outcome({})).toBe('success');
    expect(outcome({ status_code: 200, outcome: 'failure' })).toBe('failure');
  });

  it('gives every record its own, increasing id', () => {
    const auditor = auditorFor(memoryStore());
    const ids = Array.from({ length: 500 }, () => auditor.record(refund()).id);
    expect(new Set(ids).size).toBe(500);
    expect([...ids].sort()).toEqual(ids);
  });

  it('redacts details, request.path, request.user_agent and request.request_id', async () => {
    const store = spyStore();
    const auditor = auditorFor(store);
    const record = auditor.record(
      refund({
        request: { path: '/cards/4111111111111111/verify', user_agent: 'bot Bearer abc.def', request_id: 'req card 5555 5555 5555 4444' },
        details: { password: 'hunter2', card: '4111 1111 1111 1111', nested: [{ api_key: 'k' }], note: 'ok' },
      }),
    );
    expect(record.request.path).toBe(`/cards/${REDACTED}/verify`);
    expect(record.request.user_agent).toBe(`bot Bearer ${REDACTED}`);
    expect(record.request.request_id).toBe(`req card ${REDACTED}`);
    expect(record.details).toEqual({ password: REDACTED, card: REDACTED, nested: [{ api_key: REDACTED }], note: 'ok' });
    await auditor.flush();
    const stored = JSON.stringify(store.batches);
    expect(stored).not.toContain('hunter2');
    expect(stored).not.toContain('4111111111111111');
    expect(stored).not.toContain('4111 1111 1111 1111');
    expect(stored).not.toContain('abc.def');
    expect(stored).not.toContain('5555 5555 5555 4444');
  });

  it('applies the redaction options it was given', () => {
    const auditor = auditorFor(memoryStore(), { redaction: { keys: ['iban'], censor: '***' } });
    expect(auditor.record(refund({ details: { iban: 'DE89', password: 'p' } })).details).toEqual({ iban: '***', password: '***' });
  });

  it('stores details as given with redaction: false, as a copy', () => {
    const auditor = auditorFor(memoryStore(), { redaction: false });
    const details = { password: 'p', list: [1, { a: 'Bearer x' }] };
    const record = auditor.record(refund({ details, request: { path: '/cards/4111111111111111' } }));
    expect(record.details).toEqual(details);
    expect(record.details).not.toBe(details);
    expect(record.request.path).toBe('/cards/4111111111111111');
  });

  it('does not keep a reference to the details it was given', async () => {
    const store = spyStore();
    const auditor = auditorFor(store);
    const details: Record<string, unknown> = { note: 'before' };
    auditor.record(refund({ details }));
    details.note = 'after';
    await auditor.flush();
    expect(store.batches[0]![0]!.details).toEqual({ note: 'before' });
  });

  it('keeps only the contract fields of the trace', () => {
    const auditor = auditorFor(memoryStore());
    const trace = { ...TRACE, sampled: true, baggage: 'user=alice' };
    const record = auditor.record(refund({ trace }));
    expect(record.trace).toEqual(TRACE);
    expect(Object.keys(record.trace!).sort()).toEqual(['span_id', 'trace_id']);
  });

  it('turns non-string ids and texts into strings', () => {
    const auditor = auditorFor(memoryStore());
    const record = auditor.record(
      refund({ resource_id: 42 as unknown as string, account_id: 7 as unknown as string, request: { ip: 1 as unknown as string } }),
    );
    expect(record.resource_id).toBe('42');
    expect(record.account_id).toBe('7');
    expect(record.request.ip).toBe('1');
  });

  it('uses the catalog it was given', () => {
    const auditor = auditorFor(memoryStore(), { catalog: defineCatalog({ approve_invoice: 'invoice' }) });
    expect(auditor.record({ action_type: 'approve_invoice', user: { id: 'u' } }).resource).toBe('invoice');
    expect(auditor.record({ action_type: 'retrieve_audit_data', user: { id: 'u' } }).resource).toBe('audit');
    expectAuditError(
      thrown(() => auditor.record({ action_type: 'refund', user: { id: 'u' } })),
      'invalid_record',
    );
  });
});

describe('invalid input', () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;

  const cases: [string, unknown, (Record<string, unknown> | undefined)?][] = [
    ['an unknown action type', { ...refund(), action_type: 'refnd' }],
    ['an action type from Object.prototype', { ...refund(), action_type: 'toString' }],
    ['no action type', { ...refund(), action_type: undefined }],
    ['no user', { ...refund(), user: undefined }],
    ['a user without id', { ...refund(), user: { email: 'a@b.c' } }],
    ['an empty user id', { ...refund(), user: { id: '' } }],
    ['a numeric user id', { ...refund(), user: { id: 42 } }],
    ['status 600', { ...refund(), status_code: 600 }],
    ['status 99', { ...refund(), status_code: 99 }],
    ['status 200.5', { ...refund(), status_code: 200.5 }],
    ['status NaN', { ...refund(), status_code: Number.NaN }],
    ['a status that is text', { ...refund(), status_code: '200' }],
    ['an unknown outcome', { ...refund(), outcome: 'maybe' }],
    ['a malformed trace', { ...refund(), trace: { trace_id: 'xyz', span_id: TRACE.span_id } }],
    ['a trace that is text', { ...refund(), trace: 'trace' }],
    ['an invalid completed_at', { ...refund(), completed_at: new Date('nope') }],
    ['a completed_at that is text', { ...refund(), completed_at: '2026-11-27T10:00:00Z' }],
    ['a completed_at before 1970', { ...refund(), completed_at: new Date('1969-12-31T23:59:59.000Z') }],
    ['a completed_at after 9999', { ...refund(), completed_at: new Date('+010000-01-01T00:00:00.000Z') }],
    ['null', null],
    ['text', 'refund'],
    ['a function in details without redaction', { ...refund(), details: { f: () => 1 } }, { redaction: false }],
    ['a cycle in details without redaction', { ...refund(), details: cyclic }, { redaction: false }],
  ];

  it.each(cases)('record throws invalid_record for %s, and queues nothing', async (_name, input, options) => {
    const store = spyStore();
    const auditor = auditorFor(store, options);
    expectAuditError(
      thrown(() => auditor.record(input as ActionInput)),
      'invalid_record',
    );
    await expect(auditor.recordDurable(input as ActionInput)).rejects.toMatchObject({ name: 'AuditError', code: 'invalid_record' });
    expect(() => auditor.tryRecord(input as ActionInput)).not.toThrow();
    expect(errors.map((e) => e.code)).toEqual(['invalid_record']); // only tryRecord reports
    await auditor.flush();
    expect(auditor.stats()).toEqual({ queued: 0, written: 0, dropped: 0, failed: 0, retried: 0, lastDropAt: null, lastFailureAt: null });
    expect(store.batches).toEqual([]);
  });

  it('names the unknown action type', () => {
    const auditor = auditorFor(memoryStore());
    expect(thrown(() => auditor.record({ ...refund(), action_type: 'refnd' } as never))).toHaveProperty(
      'message',
      expect.stringContaining('refnd'),
    );
  });

  it('keeps ids increasing after an invalid completed_at', () => {
    const auditor = auditorFor(memoryStore());
    const first = auditor.record(refund()).id;
    thrown(() => auditor.record(refund({ completed_at: new Date('nope') })));
    thrown(() => auditor.record(refund({ completed_at: new Date(-1000) })));
    const second = auditor.record(refund()).id;
    expect(second > first).toBe(true);
    expect(second).toMatch(/^aud_[0-9A-HJKMNP-TV-Z]{26}$/);
  });
});

describe('batching', () => {
  it('writes as soon as a batch is full', async () => {
    const store = spyStore();
    const auditor = auditorFor(store, { batchSize: 3, flushIntervalMs: 60_000 });
    auditor.record(refund());
    auditor.record(refund());
    await sleep(20);
    expect(store.batches).toEqual([]);
    expect(auditor.stats().queued).toBe(2);
    auditor.record(refund());
    await vi.waitFor(() => expect(auditor.stats().written).toBe(3));
    expect(store.batches.map((b) => b.length)).toEqual([3]);
    auditor.record(refund());
    await sleep(20);
    expect(store.batches.map((b) => b.length)).toEqual([3]);
    await auditor.flush();
    expect(store.batches.map((b) => b.length)).toEqual([3, 1]);
  });

  it('writes a partial batch after flushIntervalMs, counted from the first record waiting', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const store = spyStore();
    const auditor = auditorFor(store, { batchSize: 100, flushIntervalMs: 50 });
    auditor.record(refund());
    await vi.advanceTimersByTimeAsync(30);
    auditor.record(refund());
    await vi.advanceTimersByTimeAsync(19);
    expect(store.batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(store.batches.map((b) => b.length)).toEqual([2]);
    await vi.waitFor(() => expect(auditor.stats().written).toBe(2));
    expect(auditor.stats()).toEqual({ queued: 0, written: 2, dropped: 0, failed: 0, retried: 0, lastDropAt: null, lastFailureAt: null });
    // The next record waits a full interval again.
    auditor.record(refund());
    await vi.advanceTimersByTimeAsync(49);
    expect(store.batches.map((b) => b.length)).toEqual([2]);
    await vi.advanceTimersByTimeAsync(1);
    expect(store.batches.map((b) => b.length)).toEqual([2, 1]);
  });

  it('writes at most maxBatchSize records per append', async () => {
    const store = spyStore();
    const auditor = auditorFor(store, { batchSize: 100, maxBatchSize: 100, flushIntervalMs: 60_000 });
    for (let i = 0; i < 250; i++) auditor.record(refund());
    await auditor.flush();
    expect(store.batches.map((b) => b.length)).toEqual([100, 100, 50]);
    expect(auditor.stats()).toEqual({ queued: 0, written: 250, dropped: 0, failed: 0, retried: 0, lastDropAt: null, lastFailureAt: null });
  });
});

describe('adaptive batches', () => {
  it('writes what waited behind a batch in one write, up to maxBatchSize', async () => {
    const { store, open } = gatedStore();
    const auditor = auditorFor(store, { batchSize: 10, maxBatchSize: 25, flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) auditor.record(refund());
    expect(store.batches.map((b) => b.length)).toEqual([10]);
    // 40 arrive while the first batch is written: 25 go in the next write, then the other 15.
    for (let i = 0; i < 40; i++) auditor.record(refund());
    open(0);
    await vi.waitFor(() => expect(store.batches.map((b) => b.length)).toEqual([10, 25]));
    open(1);
    await vi.waitFor(() => expect(store.batches.map((b) => b.length)).toEqual([10, 25, 15]));
    open(2);
    await auditor.flush();
    expect(auditor.stats().written).toBe(50);
  });

  it('defaults maxBatchSize to 1,000, and refuses one below batchSize', async () => {
    const store = spyStore();
    const auditor = auditorFor(store, { batchSize: 100, flushIntervalMs: 60_000 });
    for (let i = 0; i < 2_500; i++) auditor.record(refund());
    await auditor.flush();
    expect(store.batches.map((b) => b.length)).toEqual([100, 1000, 1000, 400]);
    expect(() => createAuditor({ store, batchSize: 100, maxBatchSize: 50 })).toThrow(/maxBatchSize/);
  });
});

describe('writesInFlight', () => {
  it('hands a full batch to the store while one is written, in queue order; one at a time by default', async () => {
    for (const writesInFlight of [1, 2]) {
      const { store, open } = gatedStore();
      const auditor = auditorFor(store, { batchSize: 2, maxBatchSize: 2, flushIntervalMs: 60_000, writesInFlight });
      const ids = Array.from({ length: 6 }, () => auditor.record(refund()).id);
      await sleep(10);
      expect(store.batches).toHaveLength(writesInFlight);
      open(0);
      await vi.waitFor(() => expect(store.batches.length).toBeGreaterThanOrEqual(writesInFlight + 1));
      for (let i = 1; i < 3; i++) open(i);
      await auditor.flush();
      expect(store.batches.flat().map((r) => r.id)).toEqual(ids);
      expect(auditor.stats()).toMatchObject({ written: 6, queued: 0 });
    }
  });

  it('refuses writesInFlight outside 1 to 8', () => {
    expect(() => createAuditor({ store: memoryStore(), writesInFlight: 0 })).toThrow(/writesInFlight/);
    expect(() => createAuditor({ store: memoryStore(), writesInFlight: 9 })).toThrow(/writesInFlight/);
  });
});

describe('flush', () => {
  it('resolves at once when nothing is queued', async () => {
    const auditor = auditorFor(spyStore());
    await expect(auditor.flush()).resolves.toBeUndefined();
  });

  it('drains without waiting for the timer', async () => {
    const store = spyStore();
    const auditor = auditorFor(store, { flushIntervalMs: 60_000 });
    const a = auditor.record(refund());
    const b = auditor.record(refund());
    await auditor.flush();
    expect(store.written).toEqual([a.id, b.id]);
  });

  it('waits for a write in progress and for what was queued behind it', async () => {
    const { store, open } = gatedStore();
    const auditor = auditorFor(store, { batchSize: 1, flushIntervalMs: 60_000 });
    auditor.record(refund());
    auditor.record(refund());
    let flushed = false;
    const flushing = auditor.flush().then(() => (flushed = true));
    await sleep(10);
    expect(flushed).toBe(false);
    open(0);
    await sleep(10);
    expect(flushed).toBe(false);
    expect(store.batches).toHaveLength(2);
    open(1);
    await flushing;
    expect(auditor.stats()).toEqual({ queued: 0, written: 2, dropped: 0, failed: 0, retried: 0, lastDropAt: null, lastFailureAt: null });
  });
});

describe('recordDurable', () => {
  it('resolves once the store has the record', async () => {
    const { store, open } = gatedStore();
    const auditor = auditorFor(store, { flushIntervalMs: 1 });
    let resolved = false;
    const durable = auditor.recordDurable(refund()).then((record) => {
      resolved = true;
      return record;
    });
    await vi.waitFor(() => expect(store.batches).toHaveLength(1));
    await sleep(10);
    expect(resolved).toBe(false);
    open(0);
    const record = await durable;
    expect(store.written).toEqual([record.id]);
    expect(record.action_type).toBe('refund');
  });
  it('arms no deadline when the record cannot be queued: no later store_failed, no timer left', async () => {
    const auditor = auditorFor(spyStore(), { durableTimeoutMs: 20, dropReportIntervalMs: 50 });
    await auditor.close();
    vi.useFakeTimers();
    try {
      const refused = auditor.recordDurable(refund());
      await expect(refused).rejects.toMatchObject({ code: 'closed' });
      // The only timer is the drop report's.
      expect(vi.getTimerCount()).toBe(1);
      await vi.advanceTimersByTimeAsync(100);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
    expect(errors.map((e) => [e.code, e.records])).toEqual([['closed', 1]]);
  });
});

describe('close', () => {
  it('drains the queue, then closes the store once', async () => {
    const store = spyStore();
    const auditor = auditorFor(store, { flushIntervalMs: 60_000 });
    for (let i = 0; i < 5; i++) auditor.record(refund());
    const first = auditor.close();
    const second = auditor.close();
    expect(second).toBe(first);
    await first;
    expect(store.events).toEqual(['append:5', 'close']);
    expect(store.closeCalls).toBe(1);
    expect(auditor.stats()).toEqual({ queued: 0, written: 5, dropped: 0, failed: 0, retried: 0, lastDropAt: null, lastFailureAt: null });
  });

  it('refuses later records as closed, counts them dropped and reports them', async () => {
    const store = spyStore();
    const auditor = auditorFor(store);
    auditor.record(refund());
    await auditor.close();
    const error = expectAuditError(
      thrown(() => auditor.record(refund())),
      'closed',
    );
    expect(error.records).toBe(1);
    await expect(auditor.recordDurable(refund())).rejects.toMatchObject({ code: 'closed' });
    expect(() => auditor.tryRecord(refund())).not.toThrow();
    // Reported once, in aggregate, when the interval ends (or on flush).
    expect(errors).toEqual([]);
    await auditor.flush();
    expect(errors.map((e) => [e.code, e.records])).toEqual([['closed', 3]]);
    expect(errors[0]).not.toBe(error);
    expect(auditor.stats()).toEqual({ queued: 0, written: 1, dropped: 3, failed: 0, retried: 0, lastDropAt: expect.any(String), lastFailureAt: null });
    expect(store.batches.map((b) => b.length)).toEqual([1]);
  });

  it('refuses records while it is closing', async () => {
    const { store, open } = gatedStore();
    const auditor = auditorFor(store, { batchSize: 1 });
    auditor.record(refund());
    const closing = auditor.close();
    expectAuditError(
      thrown(() => auditor.record(refund())),
      'closed',
    );
    open(0);
    await closing;
    expect(store.events).toEqual(['append:1', 'close']);
    expect(auditor.stats()).toEqual({ queued: 0, written: 1, dropped: 1, failed: 0, retried: 0, lastDropAt: expect.any(String), lastFailureAt: null });
  });
});

describe('maxQueueSize', () => {
  it('drops records past the limit as queue_full, and accepts again once there is room', async () => {
    const { store, open } = gatedStore();
    const auditor = auditorFor(store, { batchSize: 1, maxQueueSize: 3, flushIntervalMs: 1 });
    for (let i = 0; i < 3; i++) auditor.record(refund());
    expect(auditor.stats()).toEqual({ queued: 3, written: 0, dropped: 0, failed: 0, retried: 0, lastDropAt: null, lastFailureAt: null });
    const error = expectAuditError(
      thrown(() => auditor.record(refund())),
      'queue_full',
    );
    expect(error.records).toBe(1);
    expect(error.message).toContain('3');
    expect(() => auditor.tryRecord(refund())).not.toThrow();
    await expect(auditor.recordDurable(refund())).rejects.toMatchObject({ code: 'queue_full' });
    // One report for the three, at the end of the interval (here: the default 1 s).
    expect(errors).toEqual([]);
    await vi.waitFor(() => expect(errors.map((e) => [e.code, e.records])).toEqual([['queue_full', 3]]), { timeout: 2_000 });
    expect(errors[0]!.message).toMatch(/3 record\(s\) were dropped between \d{4}-\d\d-\d\dT[\d:.]+Z and \d{4}-\d\d-\d\dT[\d:.]+Z/);
    expect(auditor.stats()).toEqual({ queued: 3, written: 0, dropped: 3, failed: 0, retried: 0, lastDropAt: expect.any(String), lastFailureAt: null });
    open(0);
    open(1);
    open(2);
    await vi.waitFor(() => expect(auditor.stats().written).toBe(3));
    auditor.record(refund());
    open(3);
    await auditor.flush();
    expect(auditor.stats()).toEqual({ queued: 0, written: 4, dropped: 3, failed: 0, retried: 0, lastDropAt: expect.any(String), lastFailureAt: null });
  });
});

describe('store failures', () => {
  it('reports store_failed with cause and count, counts failed, and rejects recordDurable', async () => {
    const cause = new Error('disk full');
    const store = spyStore(() => {
      throw cause;
    });
    const auditor = auditorFor(store, { batchSize: 10, flushIntervalMs: 60_000 });
    for (let i = 0; i < 3; i++) auditor.record(refund());
    await auditor.flush();
    expect(errors).toHaveLength(1);
    const error = expectAuditError(errors[0], 'store_failed');
    expect(error.cause).toBe(cause);
    expect(error.records).toBe(3);
    expect(error.message).toContain('disk full');
    expect(auditor.stats()).toEqual({ queued: 0, written: 0, dropped: 0, failed: 3, retried: 0, lastDropAt: null, lastFailureAt: expect.any(String) });

    const durable = auditor.recordDurable(refund());
    await auditor.flush();
    await expect(durable).rejects.toBeInstanceOf(AuditError);
    await expect(durable).rejects.toMatchObject({ code: 'store_failed', records: 1, cause });
    expect(auditor.stats()).toEqual({ queued: 0, written: 0, dropped: 0, failed: 4, retried: 0, lastDropAt: null, lastFailureAt: expect.any(String) });
  });

  it('reports failures of timer-driven writes without any unhandled rejection', async () => {
    const store = spyStore(async () => {
      await sleep(1);
      throw new Error('connection reset');
    });
    const auditor = auditorFor(store, { flushIntervalMs: 1 });
    auditor.record(refund());
    auditor.tryRecord(refund());
    await vi.waitFor(() => expect(auditor.stats().failed).toBe(2));
    await sleep(20);
    expect(errors.map((e) => e.code)).toEqual(['store_failed']);
    // afterEach checks the unhandledRejection listener too; check here so the failure points at this test.
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('handles a store that throws synchronously or rejects with a non-Error', async () => {
    const sync: Store = { ...memoryStore(), append: () => { throw new Error('sync boom'); } };
    const text: Store = { ...memoryStore(), append: () => Promise.reject('text boom') };
    for (const store of [sync, text]) {
      errors = [];
      const auditor = auditorFor(store);
      expect(() => auditor.record(refund())).not.toThrow();
      await auditor.flush();
      expect(errors.map((e) => e.code)).toEqual(['store_failed']);
      expect(errors[0]!.message).toMatch(/boom/);
      expect(auditor.stats().failed).toBe(1);
    }
  });

  it('tries the halves of a failed batch once, so a passing glitch loses nothing', async () => {
    const store = spyStore((call) => {
      if (call === 1) throw new Error('flaky');
    });
    const auditor = auditorFor(store, { batchSize: 2, maxBatchSize: 2, flushIntervalMs: 60_000 });
    const results = Array.from({ length: 6 }, () => auditor.recordDurable(refund()).then(() => 'ok', (e: AuditError) => e.code));
    await auditor.flush();
    // A durable record starts a write at once ([r0]); the rest follow in batches of two: [r1, r2]
    // fails, then [r1] and [r2] are tried once each and go through.
    expect(store.batches.map((batch) => batch.length)).toEqual([1, 2, 1, 1, 2, 1]);
    expect(await Promise.all(results)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(auditor.stats()).toEqual({ queued: 0, written: 6, dropped: 0, failed: 0, retried: 0, lastDropAt: null, lastFailureAt: null });
    expect(store.written).toHaveLength(6);
  });

  it('isolates a record the store refuses, so it cannot take its batch down', async () => {
    const store = spyStore((_call, records) => {
      if (records.some((r) => r.resource_id === 'poison')) throw new Error('invalid byte sequence');
    });
    const auditor = auditorFor(store, { batchSize: 8, flushIntervalMs: 60_000 });
    for (let i = 0; i < 8; i++) auditor.record(refund({ resource_id: i === 5 ? 'poison' : `pay_${i}` }));
    await auditor.flush();
    expect(store.written).toHaveLength(7);
    expect(auditor.stats()).toEqual({ queued: 0, written: 7, dropped: 0, failed: 1, retried: 0, lastDropAt: null, lastFailureAt: expect.any(String) });
    expect(errors.map((e) => [e.code, e.records])).toEqual([['store_failed', 1]]);
  });

  it('fails a batch whole, without more attempts, when both halves fail too', async () => {
    const store = spyStore(() => {
      throw new Error('store down');
    });
    const auditor = auditorFor(store, { batchSize: 8, flushIntervalMs: 60_000 });
    for (let i = 0; i < 8; i++) auditor.record(refund());
    await auditor.flush();
    expect(store.batches.map((b) => b.length)).toEqual([8, 4, 4]);
    expect(auditor.stats()).toEqual({ queued: 0, written: 0, dropped: 0, failed: 8, retried: 0, lastDropAt: null, lastFailureAt: expect.any(String) });
    expect(errors.map((e) => [e.code, e.records])).toEqual([['store_failed', 8]]);
  });

  it('survives an onError that throws', async () => {
    const store = spyStore(() => {
      throw new Error('store down');
    });
    const calls: AuditErrorCode[] = [];
    const auditor = createAuditor({
      store,
      retry: false,
      maxQueueSize: 1,
      flushIntervalMs: 60_000,
      onError: (error) => {
        calls.push(error.code);
        throw new Error('handler broke');
      },
    });
    auditors.push(auditor);
    // Before the queue is full: a full queue refuses before the input is even validated.
    expect(() => auditor.tryRecord({ ...refund(), action_type: 'refnd' } as never)).not.toThrow();
    expect(() => auditor.record(refund())).not.toThrow();
    // queue_full still throws the AuditError, not the handler's error.
    expectAuditError(
      thrown(() => auditor.record(refund())),
      'queue_full',
    );
    expect(() => auditor.reportError(new AuditError('hook_failed', 'x'))).not.toThrow();
    await expect(auditor.flush()).resolves.toBeUndefined();
    // The drop is reported in aggregate, once the queue is flushed.
    expect(calls).toEqual(['invalid_record', 'hook_failed', 'store_failed', 'queue_full']);
    expect(auditor.stats()).toEqual({ queued: 0, written: 0, dropped: 1, failed: 1, retried: 0, lastDropAt: expect.any(String), lastFailureAt: expect.any(String) });
  });

  it('reports to console.error when no onError is given', async () => {
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
    const auditor = createAuditor({ store: { ...memoryStore(), append: () => Promise.reject(new Error('nope')) }, retry: false });
    auditors.push(auditor);
    auditor.record(refund());
    await auditor.flush();
    expect(consoleError).toHaveBeenCalledTimes(1);
    expect(consoleError.mock.calls[0]![1]).toBeInstanceOf(AuditError);
  });
});

describe('reportError and tryRecord', () => {
  it('passes errors to onError', () => {
    const auditor = auditorFor(memoryStore());
    const error = new AuditError('hook_failed', 'identify threw');
    auditor.reportError(error);
    expect(errors).toEqual([error]);
  });

  it('queues a valid record and never throws', async () => {
    const store = spyStore();
    const auditor = auditorFor(store);
    auditor.tryRecord(refund());
    auditor.tryRecord({ ...refund(), user: undefined } as never);
    await auditor.flush();
    expect(store.written).toHaveLength(1);
    expect(errors.map((e) => e.code)).toEqual(['invalid_record']);
  });
});

describe('records queued while a batch is written', () => {
  it('are written without another record() or flush()', async () => {
    const { store, open } = gatedStore();
    const auditor = auditorFor(store, { batchSize: 100, flushIntervalMs: 5 });
    const a = auditor.record(refund());
    await vi.waitFor(() => expect(store.batches).toHaveLength(1));
    const b = auditor.record(refund());
    const c = auditor.record(refund());
    open(0);
    open(1);
    await vi.waitFor(() => expect(store.written).toEqual([a.id, b.id, c.id]), { timeout: 2_000 });
    expect(auditor.stats()).toEqual({ queued: 0, written: 3, dropped: 0, failed: 0, retried: 0, lastDropAt: null, lastFailureAt: null });
  });

  it('are written when a slow append is under way (real time)', async () => {
    const store = spyStore(() => sleep(40));
    const auditor = auditorFor(store, { batchSize: 100, flushIntervalMs: 5 });
    const ids = [auditor.record(refund()).id];
    await vi.waitFor(() => expect(store.batches).toHaveLength(1));
    await sleep(10);
    ids.push(auditor.record(refund()).id, auditor.record(refund()).id);
    await vi.waitFor(() => expect(store.written).toEqual(ids), { timeout: 2_000 });
  });

  it('are written when queued right as a write settles', async () => {
    const store = spyStore();
    const auditor = auditorFor(store, { flushIntervalMs: 5 });
    await auditor.recordDurable(refund());
    // Runs in the microtask after the write settled, before the writer has finished.
    const b = auditor.record(refund());
    await vi.waitFor(() => expect(store.written).toContain(b.id), { timeout: 2_000 });
  });

  it('are written when they fill a batch during the write', async () => {
    const { store, open } = gatedStore();
    const auditor = auditorFor(store, { batchSize: 2, flushIntervalMs: 60_000 });
    auditor.record(refund());
    auditor.record(refund());
    expect(store.batches).toHaveLength(1);
    for (let i = 0; i < 3; i++) auditor.record(refund());
    open(0);
    open(1);
    open(2);
    await vi.waitFor(() => expect(store.batches.map((b) => b.length)).toEqual([2, 3]), { timeout: 2_000 });
    await vi.waitFor(() => expect(auditor.stats().written).toBe(5));
  });
});

describe('order and stats', () => {
  it('writes records in the order they were recorded', async () => {
    const store = spyStore(() => sleep(Math.floor(Math.random() * 3)));
    const auditor = auditorFor(store, { batchSize: 7, maxBatchSize: 7, flushIntervalMs: 1 });
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      ids.push(auditor.record(refund({ details: { i } })).id);
      if (i % 9 === 0) await sleep(1);
    }
    await auditor.flush();
    expect(store.written).toEqual(ids);
    expect(store.batches.flat().map((r) => r.details.i)).toEqual(ids.map((_, i) => i));
    expect(store.batches.every((b) => b.length <= 7)).toBe(true);
  });

  it('keeps queued + written + failed + dropped equal to the records offered', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ burst: fc.integer({ min: 0, max: 8 }), pause: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 8 }),
        fc.func(fc.boolean()),
        async (steps, failOn) => {
          let offered = 0;
          let auditor!: Auditor;
          // Collected, not thrown: a throw inside append or onError would be taken for a store failure or swallowed.
          const violations: string[] = [];
          const check = (where: string) => {
            const s = auditor.stats();
            if (s.queued + s.written + s.failed + s.dropped !== offered || Math.min(s.queued, s.written, s.failed, s.dropped) < 0) {
              violations.push(`${where}: ${JSON.stringify(s)} for ${offered} offered`);
            }
          };
          const store = spyStore(async (call) => {
            check('append');
            await sleep(1);
            if (failOn(call)) throw new Error('failed');
          });
          auditor = createAuditor({ store, retry: false, batchSize: 3, maxQueueSize: 5, flushIntervalMs: 1, onError: (e) => check(`onError ${e.code}`) });
          let dropped = 0;
          for (const { burst, pause } of steps) {
            for (let i = 0; i < burst; i++) {
              offered++;
              try {
                auditor.record(refund());
              } catch (error) {
                expectAuditError(error, 'queue_full');
                dropped++;
              }
              check('record');
            }
            await sleep(pause);
            check('pause');
          }
          await auditor.close();
          const s = auditor.stats();
          expect(s.queued).toBe(0);
          expect(s.dropped).toBe(dropped);
          expect(s.written).toBe(store.written.length);
          expect(s.written + s.failed).toBe(offered - dropped);
          check('end');
          expect(violations).toEqual([]);
        },
      ),
      { numRuns: 25 },
    );
  });
});
