import { AuditError, createAuditor, memoryStore, type AuditRecord, type Store } from '@audit-trail/core';
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, it, vi } from 'vitest';
import { honoAudit } from './audit.ts';

interface Actor {
  user: { id: string; email: string };
  account_id: string;
  role: string;
  app_id?: string;
}

const alice: Actor = { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_1', role: 'admin' };
const bob: Actor = { user: { id: 'usr_bob', email: 'bob@example.com' }, account_id: 'acc_1', role: 'operator' };
const users: Record<string, Actor> = { alice, bob };

type Identify = (c: Context) => Actor | null | Promise<Actor | null>;

function setup(options: { identify?: Identify } = {}) {
  const store: Store = memoryStore();
  const errors: AuditError[] = [];
  const auditor = createAuditor({ store, flushIntervalMs: 1, onError: (e) => errors.push(e) });
  const audit = honoAudit({
    auditor,
    identify: options.identify ?? ((c) => users[c.req.header('x-user') ?? ''] ?? null),
    routes: {
      'GET /payments/:payment_id': { action: 'get_payment', resourceId: 'payment_id' },
      'POST /payments': 'create_payment',
    },
  });
  const app = new Hono();
  app.use(audit.middleware);
  const records = async (): Promise<AuditRecord[]> => {
    // Recording runs after the handlers, a few microtasks later.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await auditor.flush();
    return store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 100 });
  };
  return { app, audit, auditor, errors, records };
}

const as = (user: string, headers: Record<string, string> = {}) => ({ headers: { 'x-user': user, ...headers } });

describe('honoAudit', () => {
  it('records routes named in the route map, with the route template and resource id', async () => {
    const { app, records } = setup();
    app.get('/payments/:payment_id', (c) => c.json({ id: c.req.param('payment_id') }));
    app.post('/payments', (c) => {
      c.get('audit').resourceId = 'pay_new';
      return c.json({ id: 'pay_new' }, 201);
    });
    expect((await app.request('/payments/pay_1?expand=all', as('alice', { 'app-id': 'app_9' }))).status).toBe(200);
    expect((await app.request('/payments', { method: 'POST', ...as('alice') })).status).toBe(201);
    const [get, create] = await records();
    expect(get).toMatchObject({
      action_type: 'get_payment',
      resource: 'payment',
      resource_id: 'pay_1',
      user: { id: 'usr_alice', email: 'alice@example.com' },
      account_id: 'acc_1',
      app_id: 'app_9',
      outcome: 'success',
      status_code: 200,
      request: { method: 'GET', path: '/payments/pay_1', route: '/payments/:payment_id' },
    });
    expect(create).toMatchObject({ action_type: 'create_payment', resource_id: 'pay_new', status_code: 201, app_id: null });
  });

  it('records routes named with audit.action, taking the resource id from a parameter, a function or the handler', async () => {
    const { app, audit, records } = setup();
    const customers = new Hono();
    customers.post('/:customer_id/payment-methods', audit.action('create_payment_method', { resourceId: 'customer_id' }), (c) =>
      c.body(null, 201),
    );
    customers.post('/', audit.action('create_customer', { resourceId: (c) => c.res.headers.get('location') }), (c) => {
      c.header('location', 'cus_42');
      return c.body(null, 201);
    });
    customers.post('/tokens', audit.action('create_token'), (c) => {
      c.get('audit').resourceId = 'tok_7';
      c.get('audit').details.kind = 'card';
      return c.body(null, 201);
    });
    app.route('/customers', customers);
    app.get('/unaudited', (c) => c.text('ok'));
    // A catch-all after the routes must not become the route template.
    app.all('*', (c) => c.json({ error: 'no such route' }, 404));

    await app.request('/customers/cus_%31/payment-methods', { method: 'POST', ...as('alice') });
    await app.request('/customers', { method: 'POST', ...as('alice') });
    await app.request('/customers/tokens', { method: 'POST', ...as('alice') });
    expect((await app.request('/unaudited', as('alice'))).status).toBe(200);
    expect((await app.request('/nowhere', as('alice'))).status).toBe(404);
    const list = await records();
    expect(list.map((r) => [r.action_type, r.resource_id, r.request.route, r.request.path])).toEqual([
      ['create_payment_method', 'cus_1', '/customers/:customer_id/payment-methods', '/customers/cus_%31/payment-methods'],
      ['create_customer', 'cus_42', '/customers', '/customers'],
      ['create_token', 'tok_7', '/customers/tokens', '/customers/tokens'],
    ]);
    expect(list[2]!.details).toEqual({ kind: 'card' });
  });

  it('lets a handler name the action itself, recording the template of the route that answered', async () => {
    const { app, records } = setup();
    app.get('/reports/:report_id', (c) => {
      Object.assign(c.get('audit'), { action: 'generate_report', resourceId: c.req.param('report_id') });
      return c.text('ok');
    });
    app.all('*', (c) => c.text('fallback', 404));
    await app.request('/reports/rpt_1', as('alice'));
    expect((await records()).map((r) => [r.action_type, r.resource_id, r.request.route])).toEqual([
      ['generate_report', 'rpt_1', '/reports/:report_id'],
    ]);
  });

  it('takes the outcome from the status: 1xx–3xx success, 4xx/5xx failure', async () => {
    const { app, audit, records } = setup();
    app.get('/moved', audit.action('get_customer'), (c) => c.redirect('/elsewhere', 302));
    app.get('/missing', audit.action('get_customer'), (c) => c.json({ error: 'nope' }, 404));
    app.get('/down', audit.action('get_customer'), (c) => c.json({ error: 'down' }, 503));
    for (const path of ['/moved', '/missing', '/down']) await app.request(path, as('alice'));
    expect((await records()).map((r) => [r.outcome, r.status_code])).toEqual([
      ['success', 302],
      ['failure', 404],
      ['failure', 503],
    ]);
  });

  it('records a thrown error (c.error) as a failure with the status the client got, also when onError answers 2xx', async () => {
    const { app, audit, records } = setup();
    app.get('/boom', audit.action('get_customer'), () => {
      throw new Error('boom');
    });
    app.get('/teapot', audit.action('get_payment'), () => {
      throw new HTTPException(418, { message: 'short and stout' });
    });
    app.get('/forgiven', audit.action('search_payments'), () => {
      throw new Error('handled as 200');
    });
    app.onError((err, c) => {
      if (c.req.path === '/forgiven') return c.json({ ok: true }, 200);
      if (err instanceof HTTPException) return err.getResponse();
      return c.json({ error: err.message }, 500);
    });
    expect((await app.request('/boom', as('alice'))).status).toBe(500);
    expect((await app.request('/teapot', as('alice'))).status).toBe(418);
    expect((await app.request('/forgiven', as('alice'))).status).toBe(200);
    expect((await records()).map((r) => [r.action_type, r.outcome, r.status_code])).toEqual([
      ['get_customer', 'failure', 500],
      ['get_payment', 'failure', 418],
      ['search_payments', 'failure', 200],
    ]);
  });

  it('records errors answered by Hono’s default error handler', async () => {
    const { app, audit, records } = setup();
    app.get('/boom', audit.action('get_customer'), () => {
      throw new Error('boom');
    });
    app.get('/forbidden', audit.action('get_payment'), () => {
      throw new HTTPException(403);
    });
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect((await app.request('/boom', as('alice'))).status).toBe(500);
    quiet.mockRestore();
    expect((await app.request('/forbidden', as('alice'))).status).toBe(403);
    expect((await records()).map((r) => [r.outcome, r.status_code])).toEqual([
      ['failure', 500],
      ['failure', 403],
    ]);
  });

  it('records an error rejected by an async handler of a route-map route (c.error) with the status onError chose', async () => {
    const { app, records } = setup();
    app.get('/payments/:payment_id', async (c) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (c.req.param('payment_id') === 'pay_declined') throw new HTTPException(402, { message: 'declined' });
      return c.json({ id: c.req.param('payment_id') });
    });
    app.onError((err, c) => (err instanceof HTTPException ? err.getResponse() : c.text('?', 500)));
    expect((await app.request('/payments/pay_declined', as('alice'))).status).toBe(402);
    expect((await app.request('/payments/pay_ok', as('alice'))).status).toBe(200);
    expect((await records()).map((r) => [r.action_type, r.resource_id, r.outcome, r.status_code])).toEqual([
      ['get_payment', 'pay_declined', 'failure', 402],
      ['get_payment', 'pay_ok', 'success', 200],
    ]);
  });

  it('records a thrown non-Error, which Hono rethrows, as a 500 failure and lets it through', async () => {
    const { app, audit, records } = setup();
    app.get('/odd', audit.action('get_customer'), () => {
      throw 'not an Error';
    });
    await expect(app.request('/odd', as('alice'))).rejects.toBe('not an Error');
    expect((await records()).map((r) => [r.outcome, r.status_code])).toEqual([['failure', 500]]);
  });

  it('does not record unauthenticated requests, and accepts an async identify hook', async () => {
    const { app, audit, records } = setup({ identify: async (c) => users[c.req.header('x-user') ?? ''] ?? null });
    app.get('/c', audit.action('get_customer'), (c) => c.text('ok'));
    expect((await app.request('/c')).status).toBe(200);
    expect((await app.request('/c', as('nobody'))).status).toBe(200);
    expect((await app.request('/c', as('alice'))).status).toBe(200);
    expect(await records()).toHaveLength(1);
  });

  it('calls identify after the handlers, so it sees what the app’s auth set', async () => {
    const { app, audit, records } = setup({ identify: (c) => (c.get('user' as never) as Actor | undefined) ?? null });
    app.use('*', async (c, next) => {
      const user = users[c.req.header('x-user') ?? ''];
      if (!user) return c.json({ error: 'unauthenticated' }, 401);
      c.set('user' as never, user as never);
      await next();
    });
    app.get('/c', audit.action('get_customer'), (c) => c.text('ok'));
    expect((await app.request('/c')).status).toBe(401);
    expect((await app.request('/c', as('bob'))).status).toBe(200);
    expect((await records()).map((r) => r.user.id)).toEqual(['usr_bob']);
  });

  it('never lets a throwing identify hook break the request; the failure goes to onError', async () => {
    const { app, audit, errors, records } = setup({
      identify: () => {
        throw new Error('session store down');
      },
    });
    app.get('/c', audit.action('get_customer'), (c) => c.json({ ok: true }));
    const res = await app.request('/c');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(await records()).toEqual([]);
    expect(errors.map((e) => e.code)).toEqual(['hook_failed']);
    expect(errors[0]!.message).toContain('session store down');
  });

  it('takes app_id from the app-id header unless the actor has its own, and the trace from traceparent', async () => {
    const { app, audit, records } = setup({
      identify: (c) => (c.req.header('x-user') === 'scoped' ? { ...alice, app_id: 'app_own' } : alice),
    });
    app.get('/c', audit.action('get_customer'), (c) => c.text('ok'));
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await app.request('/c', { headers: { 'app-id': 'app_1', traceparent, 'x-request-id': 'req-1', 'user-agent': 'ua/1' } });
    await app.request('/c', { headers: { 'app-id': 'app_1', 'x-user': 'scoped', traceparent: 'garbage' } });
    const [first, second] = await records();
    expect(first).toMatchObject({
      app_id: 'app_1',
      trace: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' },
      request: { request_id: 'req-1', user_agent: 'ua/1', ip: null },
    });
    expect(second).toMatchObject({ app_id: 'app_own', trace: null, request: { request_id: null } });
  });

  it('uses the appId, requestId and ip hooks when given', async () => {
    const store = memoryStore();
    const auditor = createAuditor({ store, flushIntervalMs: 1 });
    const audit = honoAudit({
      auditor,
      identify: () => alice,
      appId: (c) => c.req.query('app') ?? null,
      requestId: (c) => c.req.header('x-correlation-id') ?? null,
      ip: (c) => c.req.header('x-real-ip') ?? null,
    });
    const app = new Hono();
    app.use(audit.middleware);
    app.get('/c', audit.action('get_customer'), (c) => c.text('ok'));
    await app.request('/c?app=app_q', { headers: { 'x-correlation-id': 'corr-1', 'x-real-ip': '203.0.113.9' } });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await auditor.flush();
    const [record] = await store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 10 });
    expect(record).toMatchObject({ app_id: 'app_q', request: { request_id: 'corr-1', ip: '203.0.113.9' } });
  });

  it('reads the client address from the runtime without an ip option: Bun\'s requestIP, Deno\'s remoteAddr', async () => {
    const store = memoryStore();
    const auditor = createAuditor({ store, flushIntervalMs: 1 });
    const audit = honoAudit({ auditor, identify: () => alice });
    const app = new Hono();
    app.use(audit.middleware);
    app.get('/c', audit.action('get_customer'), (c) => c.text('ok'));
    const bunServer = { requestIP: (request: Request) => (request instanceof Request ? { address: '203.0.113.5', port: 1, family: 'IPv4' } : null) };
    await app.request('/c', {}, bunServer);
    await app.request('/c', {}, { remoteAddr: { hostname: '198.51.100.7', port: 2, transport: 'tcp' } });
    await app.request('/c');
    await auditor.flush();
    const records = await store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 10 });
    expect(records.map((r) => r.request.ip)).toEqual(['203.0.113.5', '198.51.100.7', null]);
  });

  it('serves Retrieve Audit Data as a sub-app: 401, 403, 200 and 404, and audits every read', async () => {
    const { app, audit, records } = setup();
    app.post('/payments', (c) => c.body(null, 201));
    app.route('/admin/audit', audit.router({ authorize: (actor: Actor) => actor.role === 'admin' }));
    for (let i = 0; i < 3; i++) await app.request('/payments', { method: 'POST', ...as('alice') });
    await records();

    const page = await app.request('/admin/audit?limit=2&action_type=create_payment', as('alice'));
    expect(page.status).toBe(200);
    const body = (await page.json()) as { data: AuditRecord[]; next_cursor: string | null };
    expect(body.data).toHaveLength(2);
    expect(body.next_cursor).toEqual(expect.any(String));
    expect(page.headers.get('link')).toMatch(/^<http:\/\/localhost\/admin\/audit\?limit=2&action_type=create_payment&cursor=[^>]+>; rel="next"$/);
    const id = body.data[0]!.id;
    const one = await app.request(`/admin/audit/${id}`, as('alice'));
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual(body.data[0]);
    const missing = await app.request('/admin/audit/aud_missing', as('alice'));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ category: 'api_request_error', more_info: 'id' });
    const anonymous = await app.request('/admin/audit');
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ category: 'api_authentication_error' });
    const refused = await app.request('/admin/audit', as('bob'));
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ category: 'api_authorization_error' });

    const reads = (await records()).filter((r) => r.action_type === 'retrieve_audit_data');
    expect(reads.map((r) => [r.user.id, r.status_code, r.outcome, r.resource_id, r.request.route])).toEqual([
      ['usr_alice', 200, 'success', null, '/admin/audit'],
      ['usr_alice', 200, 'success', id, '/admin/audit/:id'],
      ['usr_alice', 404, 'failure', 'aud_missing', '/admin/audit/:id'],
      ['usr_bob', 403, 'failure', null, '/admin/audit'],
    ]);
  });

  it('keeps the write alive with executionCtx.waitUntil where the runtime has one (Workers)', async () => {
    const { app, audit, auditor, records } = setup();
    app.get('/c', audit.action('get_customer'), (c) => c.text('ok'));
    app.route('/audit', audit.router({ authorize: () => true }));
    const waitUntil = vi.fn<(promise: Promise<unknown>) => void>();
    const executionCtx = { waitUntil, passThroughOnException: () => {}, props: {} };
    const flush = vi.spyOn(auditor, 'flush');
    expect((await app.request('/c', as('alice'), undefined, executionCtx)).status).toBe(200);
    expect(waitUntil).toHaveBeenCalledTimes(1);
    const kept = waitUntil.mock.calls[0]![0];
    expect(kept).toBeInstanceOf(Promise);
    await kept;
    expect(flush).toHaveBeenCalled();
    // Once the kept promise settled, the record is in the store: nothing is left to a timer.
    expect(auditor.stats()).toMatchObject({ queued: 0, written: 1 });
    expect((await app.request('/audit', as('alice'), undefined, executionCtx)).status).toBe(200);
    expect(waitUntil).toHaveBeenCalledTimes(2);
    await waitUntil.mock.calls[1]![0];
    expect(auditor.stats()).toMatchObject({ queued: 0, written: 2 });
    // Without an execution context (Node, Bun, Deno) nothing is asked of it.
    await app.request('/c', as('alice'));
    expect(waitUntil).toHaveBeenCalledTimes(2);
    expect(await records()).toHaveLength(3);
  });

  it('rejects configuration mistakes at setup, naming the option', () => {
    const auditor = createAuditor({ store: memoryStore() });
    expect(() => honoAudit({ auditor: undefined as never, identify: () => null })).toThrow(/auditor/);
    expect(() => honoAudit({ auditor, identify: undefined as never })).toThrow(/identify/);
    expect(() => honoAudit({ auditor, identify: () => null, routes: { 'POST /x': 'not_an_action' as never } })).toThrow(/not_an_action/);
    const audit = honoAudit({ auditor, identify: () => null });
    expect(() => audit.action('nope' as never)).toThrow(/nope/);
    // @ts-expect-error an action type outside the catalog is a compile error
    expect(() => audit.action('refnd')).toThrow(TypeError);
    expect(() => audit.action('refund', { resourceId: 42 as never })).toThrow(/resourceId/);
    expect(() => audit.router({} as never)).toThrow(/authorize/);
  });

  it('tells the app when audit.action is used without the middleware', async () => {
    const auditor = createAuditor({ store: memoryStore() });
    const audit = honoAudit({ auditor, identify: () => alice });
    const app = new Hono();
    app.get('/x', audit.action('get_payment'), (c) => c.text('ok'));
    app.onError((err, c) => c.json({ message: err.message }, 500));
    const res = await app.request('/x');
    expect(res.status).toBe(500);
    expect(((await res.json()) as { message: string }).message).toMatch(/app\.use\(audit\.middleware\)/);
  });
});

describe('honoAudit fail-closed actions', () => {
  const alice = { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_1' };
  function failClosed(store: Store, durableTimeoutMs = 2_000) {
    const errors: AuditError[] = [];
    const auditor = createAuditor({
      store,
      flushIntervalMs: 60_000,
      retry: false,
      durableTimeoutMs,
      requiredActions: ['update_user_permissions'],
      onError: (e) => errors.push(e),
    });
    const audit = honoAudit({ auditor, identify: () => alice });
    const app = new Hono();
    app.use(audit.middleware);
    let sideEffects = 0;
    app.patch('/users/:user_id/permissions', audit.action('update_user_permissions', { resourceId: 'user_id' }), (c) => {
      sideEffects++;
      c.header('x-changed', 'yes');
      return c.json({ role: 'admin' });
    });
    app.get('/payments', audit.action('search_payments'), (c) => c.json([]));
    return { app, errors, sideEffects: () => sideEffects };
  }
  const stored = (store: Store) => store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 100 });

  it('returns the response only once its record is stored', async () => {
    const store = memoryStore();
    const { app } = failClosed(store);
    const res = await app.request('/users/usr_bob/permissions', { method: 'PATCH' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ role: 'admin' });
    expect(res.headers.get('x-changed')).toBe('yes');
    expect((await stored(store)).map((r) => [r.action_type, r.resource_id, r.status_code])).toEqual([
      ['update_user_permissions', 'usr_bob', 200],
    ]);
  });

  it('answers 503 in the contract format when the store cannot take the record', async () => {
    const failing: Store = { ...memoryStore(), append: async () => Promise.reject(new Error('disk full')) };
    const { app, errors, sideEffects } = failClosed(failing);
    const res = await app.request('/users/usr_bob/permissions', { method: 'PATCH' });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ category: 'api_error', description: expect.any(String), more_info: 'audit_trail' });
    expect(res.headers.get('x-changed')).toBeNull();
    expect(sideEffects()).toBe(1);
    expect(errors.map((e) => e.code)).toContain('store_failed');
    expect((await app.request('/payments')).status).toBe(200);
  });

  it('answers 503 when the store does not confirm in time', async () => {
    const hanging: Store = { ...memoryStore(), append: () => new Promise(() => {}) };
    const { app, errors } = failClosed(hanging, 50);
    const res = await app.request('/users/usr_bob/permissions', { method: 'PATCH' });
    expect(res.status).toBe(503);
    expect(errors.some((e) => /did not confirm/.test(e.message))).toBe(true);
  });
});
