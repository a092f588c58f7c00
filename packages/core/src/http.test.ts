import { beforeEach, describe, expect, it } from 'vitest';
import { createAuditor, type AuditActor, type Auditor } from './auditor.ts';
import { AuditError } from './errors.ts';
import { runHook } from './adapter/hooks.ts';
import { createAuditContext, recordRequest, type AuditContext, type RequestFacts } from './http.ts';
import { memoryStore } from './memory-store.ts';
import type { AuditRecord } from './record.ts';
import { REDACTED } from './redact.ts';
import type { Store } from './store.ts';

const TRACE = { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' };
const alice: AuditActor = { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_acme', app_id: 'app_1' };

const facts = (extra: Partial<RequestFacts> = {}): RequestFacts => ({
  method: 'POST',
  path: '/payments/pay_1/refunds',
  route: '/payments/:payment_id/refunds',
  ip: '127.0.0.1',
  user_agent: 'curl/8.5',
  request_id: 'req_1',
  trace: TRACE,
  status: 201,
  aborted: false,
  error: false,
  completed_at: new Date('2026-11-27T10:00:00.123Z'),
  ...extra,
});

const context = (extra: Partial<AuditContext> = {}): AuditContext => ({
  ...createAuditContext(),
  action: 'refund',
  resourceId: 'pay_1',
  ...extra,
});

let appended: AuditRecord[];
let auditor: Auditor;
let errors: AuditError[];

beforeEach(() => {
  appended = [];
  const inner = memoryStore();
  const store: Store = {
    ...inner,
    async append(records) {
      await inner.append(records);
      appended.push(...records);
    },
  };
  errors = [];
  auditor = createAuditor({ store, onError: (e) => errors.push(e), flushIntervalMs: 60_000 }) as Auditor;
});

/** Everything the store has taken so far, in order. */
async function recorded(): Promise<AuditRecord[]> {
  await auditor.flush();
  return appended;
}

describe('createAuditContext', () => {
  it('starts empty, and fresh for every request', () => {
    const a = createAuditContext();
    const b = createAuditContext();
    expect(a).toEqual({ action: null, resourceId: null, details: {}, changes: null, route: null });
    expect(a).not.toBe(b);
    expect(a.details).not.toBe(b.details);
  });
});

describe('recordRequest', () => {
  it('records a finished request with everything the adapter saw', async () => {
    recordRequest(auditor, context({ details: { amount: 100 } }), alice, facts());
    const [record, ...rest] = await recorded();
    expect(rest).toEqual([]);
    expect(record).toEqual({
      id: expect.stringMatching(/^aud_/),
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
      details: { amount: 100 },
      changes: null,
    });
    expect(errors).toEqual([]);
  });

  it.each([
    [200, 'success'],
    [201, 'success'],
    [204, 'success'],
    [302, 'success'],
    [304, 'success'],
    [400, 'failure'],
    [401, 'failure'],
    [404, 'failure'],
    [422, 'failure'],
    [500, 'failure'],
    [503, 'failure'],
  ] as const)('records status %i as %s', async (status, outcome) => {
    recordRequest(auditor, context(), alice, facts({ status }));
    const [record] = await recorded();
    expect(record).toMatchObject({ outcome, status_code: status });
  });

  it('records a request whose handler failed as a failure, whatever the status', async () => {
    recordRequest(auditor, context(), alice, facts({ status: 200, error: true }));
    recordRequest(auditor, context(), alice, facts({ status: 500, error: true }));
    const records = await recorded();
    expect(records.map((r) => [r.outcome, r.status_code])).toEqual([
      ['failure', 200],
      ['failure', 500],
    ]);
  });

  it('records an aborted request as a 499 failure', async () => {
    recordRequest(auditor, context(), alice, facts({ status: 200, aborted: true }));
    recordRequest(auditor, context(), alice, facts({ status: 0, aborted: true, error: true }));
    const records = await recorded();
    expect(records.map((r) => [r.outcome, r.status_code])).toEqual([
      ['failure', 499],
      ['failure', 499],
    ]);
  });

  it('records nothing for a request without an action', async () => {
    recordRequest(auditor, context({ action: null }), alice, facts());
    expect(await recorded()).toEqual([]);
    expect(auditor.stats()).toEqual({ queued: 0, written: 0, dropped: 0, failed: 0, retried: 0, lastDropAt: null, lastFailureAt: null });
    expect(errors).toEqual([]);
  });

  it('records nothing for a request without an actor', async () => {
    recordRequest(auditor, context(), null, facts());
    recordRequest(auditor, context(), undefined, facts());
    expect(await recorded()).toEqual([]);
    expect(auditor.stats()).toEqual({ queued: 0, written: 0, dropped: 0, failed: 0, retried: 0, lastDropAt: null, lastFailureAt: null });
    expect(errors).toEqual([]);
  });

  it('takes resource id, details and route from the context', async () => {
    recordRequest(
      auditor,
      context({ action: 'create_payment', resourceId: 'pay_new', details: { password: 'p', amount: 5 }, route: '/v2/payments' }),
      alice,
      facts({ path: '/v2/payments', route: '/payments' }),
    );
    const [record] = await recorded();
    expect(record).toMatchObject({
      action_type: 'create_payment',
      resource: 'payment',
      resource_id: 'pay_new',
      details: { password: REDACTED, amount: 5 },
      request: { route: '/v2/payments', path: '/v2/payments' },
    });
  });

  it("falls back to the adapter's route when the context has none", async () => {
    recordRequest(auditor, context({ route: null }), alice, facts({ route: '/payments/:payment_id/refunds' }));
    recordRequest(auditor, context({ route: null, resourceId: null }), alice, facts({ route: null }));
    const records = await recorded();
    expect(records.map((r) => [r.request.route, r.resource_id])).toEqual([
      ['/payments/:payment_id/refunds', 'pay_1'],
      [null, null],
    ]);
  });

  it('fills missing actor fields with null', async () => {
    recordRequest(auditor, context(), { user: { id: 'usr_x' } }, facts());
    const [record] = await recorded();
    expect(record).toMatchObject({ user: { id: 'usr_x', email: null }, account_id: null, app_id: null });
  });

  it('never throws: an action outside the catalog goes to onError', async () => {
    expect(() => recordRequest(auditor, context({ action: 'refnd' }), alice, facts())).not.toThrow();
    expect(() => recordRequest(auditor, context(), alice, facts({ status: 999 }))).not.toThrow();
    expect(await recorded()).toEqual([]);
    expect(errors.map((e) => e.code)).toEqual(['invalid_record', 'invalid_record']);
  });

  it('never throws when the auditor is closed', async () => {
    await auditor.close();
    expect(() => recordRequest(auditor, context(), alice, facts())).not.toThrow();
    await auditor.flush(); // drops are reported in aggregate
    expect(errors.map((e) => e.code)).toEqual(['closed']);
    expect(auditor.stats().dropped).toBe(1);
  });
});

describe('runHook', () => {
  it('returns what the hook returns, sync or async', async () => {
    expect(await runHook(auditor, 'identify', null, () => alice)).toBe(alice);
    expect(await runHook(auditor, 'identify', null, async () => alice)).toBe(alice);
    expect(await runHook(auditor, 'authorize', true, () => false)).toBe(false);
    expect(errors).toEqual([]);
  });

  it('answers a synchronous hook synchronously, and a throwing one too: only promises are awaited', () => {
    expect(runHook(auditor, 'requestId', null, () => 'req_1')).toBe('req_1');
    expect(
      runHook(auditor, 'requestId', null, () => {
        throw new Error('bad header');
      }),
    ).toBeNull();
    expect(runHook(auditor, 'identify', null, async () => alice)).toBeInstanceOf(Promise);
    expect(errors.map((e) => e.code)).toEqual(['hook_failed']);
  });

  it('reports a throwing hook as hook_failed and returns the fallback', async () => {
    const cause = new Error('db down');
    const result = await runHook(auditor, 'identify', 'fallback', () => {
      throw cause;
    });
    expect(result).toBe('fallback');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(AuditError);
    expect(errors[0]).toMatchObject({ code: 'hook_failed', cause });
    expect(errors[0]!.message).toContain('identify');
    expect(errors[0]!.message).toContain('db down');
  });

  it('reports a rejecting hook as hook_failed and returns the fallback', async () => {
    const result = await runHook(auditor, 'details', { x: 1 }, () => Promise.reject(new Error('nope')));
    expect(result).toEqual({ x: 1 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'hook_failed' });
    expect(errors[0]!.message).toMatch(/details.*nope/);
  });

  it('handles a hook that throws something that is not an Error', async () => {
    expect(await runHook(auditor, 'identify', null, () => Promise.reject('plain text'))).toBeNull();
    expect(errors[0]).toMatchObject({ code: 'hook_failed', cause: 'plain text' });
    expect(errors[0]!.message).toContain('plain text');
  });
});
