import { AuditError, createAuditor, memoryStore, type AuditActor, type AuditRecord, type Auditor, type PaymentsOsCatalog, type Store } from '@audit-trail/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { AdapterHarness, ConformanceSetup } from './harness.ts';

const alice = { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_1', role: 'admin' } as const;

/** A memory store whose appends fail while `down` is set. */
function switchableStore(): Store & { down: boolean } {
  const inner = memoryStore();
  const store = Object.assign(Object.create(inner) as Store, {
    down: false,
    append: (records: Parameters<Store['append']>[0]) => (store.down ? Promise.reject(new Error('store down')) : inner.append(records)),
  });
  return store as Store & { down: boolean };
}

interface Running {
  url: string;
  auditor: Auditor<PaymentsOsCatalog>;
  store: Store & { down: boolean };
  errors: AuditError[];
  records(): Promise<AuditRecord[]>;
  send(path: string, init?: RequestInit & { headers?: Record<string, string> }): Promise<Response>;
}

/**
 * Drives one adapter through the cases every adapter must pass alike: how
 * outcomes map from what the client got, aborts (499), thrown errors, hooks
 * that fail (never changing a response), fail-closed actions, route
 * templates, failures before the route's handler, and audited reads.
 */
export function describeAdapterConformance(harness: AdapterHarness): void {
  describe(`${harness.name} adapter conformance`, () => {
    let close: (() => Promise<void>) | null = null;
    afterEach(async () => {
      await close?.();
      close = null;
    });

    const start = async (extra: Partial<Omit<ConformanceSetup, 'auditor'>> = {}, options: { durableTimeoutMs?: number } = {}): Promise<Running> => {
      const store = switchableStore();
      const errors: AuditError[] = [];
      const auditor = createAuditor({
        store,
        flushIntervalMs: 1,
        retry: false,
        requiredActions: ['replace_authentication_keys'],
        onError: (error) => errors.push(error),
        ...options,
      });
      const server = await harness.start({
        auditor,
        identify: (header) => (header('x-user') === 'alice' ? (alice as AuditActor) : null),
        ...extra,
      });
      close = async () => {
        await server.close();
        await auditor.close();
      };
      return {
        url: server.url,
        auditor,
        store,
        errors,
        async records() {
          await auditor.flush();
          return store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 100 });
        },
        send: (path, init = {}) => fetch(`${server.url}${path}`, { ...init, headers: { 'x-user': 'alice', ...init.headers } }),
      };
    };
    const brief = (r: AuditRecord) => [r.action_type, r.outcome, r.status_code, r.resource_id, r.request.route];

    it('maps what the client got to the outcome, with the route template and resource id', async () => {
      const app = await start();
      expect((await app.send('/payments/pay_1')).status).toBe(200);
      expect((await app.send('/customers/cus_7', { headers: { 'x-status': '404' } })).status).toBe(404);
      expect((await app.send('/customers', { method: 'POST' })).status).toBe(201);
      expect((await app.send('/payments/pay_2', { headers: { 'x-user': 'nobody' } })).status).toBe(200);
      expect((await app.records()).map(brief)).toEqual([
        ['get_payment', 'success', 200, 'pay_1', '/payments/:payment_id'],
        ['get_customer', 'failure', 404, 'cus_7', '/customers/:customer_id'],
        ['create_customer', 'success', 201, 'cus_new', '/customers'],
      ]);
      const [first] = await app.records();
      expect(first).toMatchObject({ user: { id: 'usr_alice' }, request: { method: 'GET', path: '/payments/pay_1' } });
      // The client's address, as the framework or runtime knows it, with no option set.
      expect(first!.request.ip).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    });

    it('records nothing for a request whose handler set the action to null', async () => {
      const app = await start();
      expect((await app.send('/customers', { method: 'POST', headers: { 'x-opt-out': '1' } })).status).toBe(201);
      expect((await app.send('/payments/pay_9', { headers: { 'x-opt-out': '1' } })).status).toBe(200);
      expect(await app.records()).toEqual([]);
    });

    it('records a thrown error as a 500 failure', async () => {
      const app = await start();
      expect((await app.send('/customers/cus_1', { headers: { 'x-throw': '1' } })).status).toBe(500);
      expect((await app.records()).map(brief)).toEqual([['get_customer', 'failure', 500, 'cus_1', '/customers/:customer_id']]);
    });

    it('records a client that goes away before the answer as 499', async () => {
      const app = await start();
      const controller = new AbortController();
      const pending = app.send('/customers/cus_2', { headers: { 'x-delay': '300' }, signal: controller.signal }).catch(() => null);
      await new Promise((resolve) => setTimeout(resolve, 80));
      controller.abort();
      await pending;
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await app.records()).map(brief)).toEqual([['get_customer', 'failure', 499, 'cus_2', '/customers/:customer_id']]);
    });

    it('records a request that a check or the body parser answered before the route ran', async () => {
      const app = await start();
      expect((await app.send('/customers/cus_3', { headers: { 'x-reject': '1' } })).status).toBe(403);
      const bad = await app.send('/customers', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' });
      expect(bad.status).toBe(400);
      expect((await app.records()).map(brief)).toEqual([
        ['get_customer', 'failure', 403, 'cus_3', '/customers/:customer_id'],
        ['create_customer', 'failure', 400, null, '/customers'],
      ]);
    });

    it('never lets a failing hook change a response: a throwing requestId or identify is reported, the request still answered', async () => {
      const app = await start({
        requestId: () => {
          throw new Error('bad request id');
        },
      });
      expect((await app.send('/payments/pay_3')).status).toBe(200);
      const read = await app.send('/audit');
      expect(read.status).toBe(200);
      const records = await app.records();
      expect(records.map((r) => [r.action_type, r.request.request_id])).toEqual([
        ['get_payment', null],
        ['retrieve_audit_data', null],
      ]);
      expect(app.errors.filter((e) => e.code === 'hook_failed').length).toBeGreaterThanOrEqual(2);

      await close?.();
      const throwing = await start({
        identify: () => {
          throw new Error('session store down');
        },
      });
      expect((await throwing.send('/customers/cus_4')).status).toBe(200);
      expect(await throwing.records()).toEqual([]);
      expect(throwing.errors.map((e) => e.code)).toEqual(['hook_failed']);
    });

    it('records every read of the audit trail with its route, allowed or not', async () => {
      const app = await start();
      await app.send('/payments/pay_4');
      // Written before it is read: on a loaded machine the batch timer may not have fired yet.
      expect((await app.records()).map((r) => r.action_type)).toEqual(['get_payment']);
      const list = await app.send('/audit?limit=5');
      expect(list.status).toBe(200);
      const [record] = ((await list.json()) as { data: AuditRecord[] }).data;
      expect((await app.send(`/audit/${record!.id}`)).status).toBe(200);
      expect((await app.send('/audit/rec_missing')).status).toBe(404);
      expect((await app.send('/audit', { headers: { 'x-user': 'nobody' } })).status).toBe(401);
      const reads = (await app.records()).filter((r) => r.action_type === 'retrieve_audit_data');
      expect(reads.map((r) => [r.status_code, r.resource_id, r.request.route])).toEqual([
        [200, null, '/audit'],
        [200, record!.id, '/audit/:id'],
        [404, 'rec_missing', '/audit/:id'],
      ]);
    });

    it('holds a fail-closed response until its record is stored, and answers 503 instead when it cannot be', async () => {
      const app = await start({}, { durableTimeoutMs: 200 });
      const ok = await app.send('/apps/app_1/keys', { method: 'POST' });
      expect(ok.status).toBe(201);
      expect(ok.headers.get('x-handler')).toBe('yes');
      // Stored before the response left: no flush needed.
      expect((await app.store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 10 })).map(brief)).toEqual([
        ['replace_authentication_keys', 'success', 201, 'app_1', '/apps/:app_id/keys'],
      ]);
      app.store.down = true;
      const refused = await app.send('/apps/app_2/keys', { method: 'POST' });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('x-handler')).toBeNull();
      expect(await refused.json()).toEqual({ category: 'api_error', description: expect.any(String), more_info: 'audit_trail' });
      expect(app.errors.some((e) => e.code === 'store_failed')).toBe(true);
    });
  });
}
