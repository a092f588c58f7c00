import { CSV_HEADER, paymentsOsCatalog, type AuditRecord, type PaymentsOsActionType, type Store } from '@audit-trail/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExampleApp, ExampleServer, StoreKind } from './apps.ts';
import { client, expectError, readAll, readAudit, TOKENS, type DemoName } from './client.ts';
import { openApiChecker, parseCsvLine, Validator, type OpenApiDocument } from './openapi-check.ts';

let unique = 0;
/** A fresh business unit per test: records of one test are found by `app_id`. */
const freshAppId = () => `app_t${Date.now().toString(36)}${(unique++).toString(36)}`;

interface Fixtures {
  payment: string;
  customer: string;
  app: string;
  provider: string;
  webhook: string;
  /** A webhook of its own for the DELETE case, so that no other case depends on the order they run in. */
  doomedWebhook: string;
  flow: string;
  invitation: string;
}

interface RouteCase {
  action: PaymentsOsActionType;
  method: 'get' | 'post' | 'patch' | 'delete';
  route: string;
  path: (f: Fixtures) => string;
  body?: unknown;
  status: number;
  /** The expected resource id: a fixture, or the id of the created object. */
  resourceId: (f: Fixtures, body: any) => string | null;
}

/** Every route of the demo (README, "The demo") with its action, status and resource id. */
const ROUTES: RouteCase[] = [
  { action: 'activate_account', method: 'post', route: '/account/activate', path: () => '/account/activate', status: 200, resourceId: () => null },
  { action: 'create_payment', method: 'post', route: '/payments', path: () => '/payments', body: { amount: 1500, currency: 'EUR' }, status: 201, resourceId: (_f, b) => b.id },
  { action: 'search_payments', method: 'get', route: '/payments', path: () => '/payments', status: 200, resourceId: () => null },
  { action: 'get_payment', method: 'get', route: '/payments/:payment_id', path: (f) => `/payments/${f.payment}`, status: 200, resourceId: (f) => f.payment },
  { action: 'charge', method: 'post', route: '/payments/:payment_id/charges', path: (f) => `/payments/${f.payment}/charges`, status: 201, resourceId: (f) => f.payment },
  { action: 'capture', method: 'post', route: '/payments/:payment_id/captures', path: (f) => `/payments/${f.payment}/captures`, status: 201, resourceId: (f) => f.payment },
  { action: 'refund', method: 'post', route: '/payments/:payment_id/refunds', path: (f) => `/payments/${f.payment}/refunds`, body: { amount: 100 }, status: 201, resourceId: (f) => f.payment },
  { action: 'void', method: 'post', route: '/payments/:payment_id/voids', path: (f) => `/payments/${f.payment}/voids`, status: 201, resourceId: (f) => f.payment },
  { action: 'create_customer', method: 'post', route: '/customers', path: () => '/customers', body: { name: 'Ada' }, status: 201, resourceId: (_f, b) => b.id },
  { action: 'get_customer', method: 'get', route: '/customers/:customer_id', path: (f) => `/customers/${f.customer}`, status: 200, resourceId: (f) => f.customer },
  { action: 'create_payment_method', method: 'post', route: '/customers/:customer_id/payment-methods', path: (f) => `/customers/${f.customer}/payment-methods`, body: { type: 'tokenized' }, status: 201, resourceId: (f) => f.customer },
  { action: 'get_payment_methods', method: 'get', route: '/customers/:customer_id/payment-methods', path: (f) => `/customers/${f.customer}/payment-methods`, status: 200, resourceId: (f) => f.customer },
  { action: 'create_token', method: 'post', route: '/tokens', path: () => '/tokens', body: { type: 'card' }, status: 201, resourceId: (_f, b) => b.id },
  { action: 'create_business_unit', method: 'post', route: '/apps', path: () => '/apps', body: { name: 'EU shop' }, status: 201, resourceId: (_f, b) => b.id },
  { action: 'update_business_unit', method: 'patch', route: '/apps/:app_id', path: (f) => `/apps/${f.app}`, body: { name: 'EU shop 2' }, status: 200, resourceId: (f) => f.app },
  { action: 'replace_authentication_keys', method: 'post', route: '/apps/:app_id/keys', path: (f) => `/apps/${f.app}/keys`, status: 201, resourceId: (f) => f.app },
  { action: 'create_provider_configuration', method: 'post', route: '/providers', path: () => '/providers', body: { provider: 'acquirer' }, status: 201, resourceId: (_f, b) => b.id },
  { action: 'update_provider_configuration', method: 'patch', route: '/providers/:provider_id', path: (f) => `/providers/${f.provider}`, body: { enabled: true }, status: 200, resourceId: (f) => f.provider },
  { action: 'create_webhook_configuration', method: 'post', route: '/webhooks', path: () => '/webhooks', body: { url: 'https://example.com/hook' }, status: 201, resourceId: (_f, b) => b.id },
  { action: 'update_webhook_configuration', method: 'patch', route: '/webhooks/:webhook_id', path: (f) => `/webhooks/${f.webhook}`, body: { url: 'https://example.com/h2' }, status: 200, resourceId: (f) => f.webhook },
  { action: 'delete_webhook_configuration', method: 'delete', route: '/webhooks/:webhook_id', path: (f) => `/webhooks/${f.doomedWebhook}`, status: 204, resourceId: (f) => f.doomedWebhook },
  { action: 'create_decision_engine_flow', method: 'post', route: '/flows', path: () => '/flows', body: { name: 'risk' }, status: 201, resourceId: (_f, b) => b.id },
  { action: 'deactivate_decision_engine_flow', method: 'delete', route: '/flows/:flow_id/rules', path: (f) => `/flows/${f.flow}/rules`, status: 204, resourceId: (f) => f.flow },
  { action: 'generate_report', method: 'post', route: '/reports', path: () => '/reports', body: { kind: 'daily' }, status: 201, resourceId: (_f, b) => b.id },
  { action: 'create_report_template', method: 'post', route: '/report-templates', path: () => '/report-templates', body: { name: 'monthly' }, status: 201, resourceId: (_f, b) => b.id },
  { action: 'invite_user', method: 'post', route: '/users/invitations', path: () => '/users/invitations', body: { email: 'dan@example.com' }, status: 201, resourceId: (_f, b) => b.id },
  { action: 'user_accepts_invite', method: 'post', route: '/users/invitations/:invitation_id/accept', path: (f) => `/users/invitations/${f.invitation}/accept`, status: 200, resourceId: (f) => f.invitation },
  { action: 'update_user_permissions', method: 'patch', route: '/users/:user_id/permissions', path: () => '/users/usr_bob/permissions', body: { role: 'admin' }, status: 200, resourceId: () => 'usr_bob' },
];

async function createFixtures(server: ExampleServer): Promise<Fixtures> {
  const alice = client(server, 'alice');
  const id = async (path: string, body: unknown) => {
    const res = await alice.post(path, body);
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(201);
    return res.body.id as string;
  };
  return {
    payment: await id('/payments', { amount: 2000, currency: 'USD' }),
    customer: await id('/customers', { name: 'Grace' }),
    app: await id('/apps', { name: 'US shop' }),
    provider: await id('/providers', { provider: 'acquirer' }),
    webhook: await id('/webhooks', { url: 'https://example.com/x' }),
    doomedWebhook: await id('/webhooks', { url: 'https://example.com/doomed' }),
    flow: await id('/flows', { name: 'fraud' }),
    invitation: await id('/users/invitations', { email: 'eve@example.com' }),
  };
}

/** Performs `count` audited actions as `who` under a fresh app id; returns that app id. */
async function seed(server: ExampleServer, who: DemoName, count: number): Promise<string> {
  const appId = freshAppId();
  const c = client(server, who, { 'app-id': appId });
  for (let i = 0; i < count; i++) {
    const res = await c.post('/payments', { amount: 100 + i, currency: 'USD' });
    expect(res.status).toBe(201);
  }
  await server.auditor.flush();
  return appId;
}

/**
 * The HTTP contract of the README (the record, the endpoints, the demo API), as an outside client sees it. It runs
 * unchanged against every example app and store kind.
 */
export function describeContract(app: ExampleApp, kind: StoreKind): void {
  describe(`${app.name} example on ${kind.name}: the record, the endpoints and the demo API over HTTP`, () => {
    let server: ExampleServer;
    let store: Store;
    let fixtures: Fixtures;

    beforeAll(async () => {
      store = await kind.open();
      server = await app.start({ store });
      fixtures = await createFixtures(server);
    });
    afterAll(async () => {
      await server?.close();
    });

    it('answers /healthz without credentials', async () => {
      const res = await client(server).get('/healthz');
      expect(res.status).toBe(200);
    });

    it('answers 401 in the contract format on every route without or with an unknown token, and records nothing', async () => {
      const appId = freshAppId();
      for (const r of ROUTES) {
        for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 'Basic ZGVtbzpkZW1v' }] as Record<string, string>[]) {
          const res = await client(server, undefined, { ...headers, 'app-id': appId })[r.method](r.path(fixtures));
          expect(res.status, `${r.method} ${r.path(fixtures)}`).toBe(401);
          expectError(res.body, 'api_authentication_error');
        }
      }
      const audit = await client(server, undefined, { 'app-id': appId }).get('/audit');
      expect(audit.status).toBe(401);
      expectError(audit.body, 'api_authentication_error');
      expect(await readAll(server, 'alice', `app_id=${appId}`)).toEqual([]);
    });

    it.each(ROUTES.map((r) => [r.action, r] as const))('records %s with its resource, resource id, user and outcome', async (_name, r) => {
      const appId = freshAppId();
      const before = Date.now();
      const res = await client(server, 'alice', { 'app-id': appId, 'user-agent': 'contract-suite/1', 'x-request-id': `req-${appId}` })[r.method](
        r.path(fixtures),
        r.body,
      );
      const after = Date.now();
      expect(res.status, JSON.stringify(res.body)).toBe(r.status);
      const records = await readAll(server, 'alice', `app_id=${appId}&action_type=${r.action}`);
      expect(records).toHaveLength(1);
      const record = records[0]!;
      expect(record).toMatchObject({
        action_type: r.action,
        resource: paymentsOsCatalog[r.action],
        resource_id: r.resourceId(fixtures, res.body),
        user: { id: 'usr_alice', email: 'alice@example.com' },
        account_id: 'acc_acme',
        app_id: appId,
        outcome: 'success',
        status_code: r.status,
        request: {
          method: r.method.toUpperCase(),
          path: r.path(fixtures),
          route: r.route,
          user_agent: 'contract-suite/1',
          request_id: `req-${appId}`,
        },
        trace: null,
        details: expect.any(Object),
      });
      expect(record.id).toMatch(/^aud_/);
      expect(record.created).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      const created = Date.parse(record.created);
      expect(created).toBeGreaterThanOrEqual(before);
      expect(created).toBeLessThanOrEqual(after);
      expect(record.request.ip).toMatch(/127\.0\.0\.1|::1/);
      const one = await client(server, 'alice').get(`/audit/${record.id}`);
      expect(one.status).toBe(200);
      expect(one.body).toEqual(record);
    });

    it('records a bad POST /payments body as a 400 failure and an unknown payment as a 404 failure', async () => {
      const appId = freshAppId();
      const alice = client(server, 'alice', { 'app-id': appId });
      for (const body of [{ amount: -5, currency: 'USD' }, { amount: 1.5, currency: 'USD' }, { amount: 10, currency: 'US' }, { amount: 10 }, { amount: 10, currency: 'USD', extra: 1 }, []]) {
        const res = await alice.post('/payments', body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expectError(res.body, 'api_request_error');
      }
      const broken = await alice.post('/payments', '{"amount":').set('content-type', 'application/json');
      expect(broken.status).toBe(400);
      expectError(broken.body, 'api_request_error');
      const missing = await alice.get('/payments/pay_missing');
      expect(missing.status).toBe(404);
      expectError(missing.body, 'api_request_error', 'payment_id');
      const refund = await alice.post('/payments/pay_missing/refunds', { amount: 1 });
      expect(refund.status).toBe(404);

      const creates = await readAll(server, 'alice', `app_id=${appId}&action_type=create_payment`);
      expect(creates).toHaveLength(7);
      for (const r of creates) expect(r).toMatchObject({ outcome: 'failure', status_code: 400, resource_id: null });
      const [get] = await readAll(server, 'alice', `app_id=${appId}&action_type=get_payment`);
      expect(get).toMatchObject({ outcome: 'failure', status_code: 404, resource_id: 'pay_missing' });
      const [refunded] = await readAll(server, 'alice', `app_id=${appId}&action_type=refund`);
      expect(refunded).toMatchObject({ outcome: 'failure', status_code: 404, resource_id: 'pay_missing' });
      const failures = await readAll(server, 'alice', `app_id=${appId}&outcome=failure`);
      expect(failures).toHaveLength(9);
      expect(await readAll(server, 'alice', `app_id=${appId}&outcome=success`)).toEqual([]);
    });

    it('records a request that fails before its handler (a body that is not JSON, one over the limit) on every audited route', async () => {
      const appId = freshAppId();
      const alice = client(server, 'alice', { 'app-id': appId });
      const fixtures = await createFixtures(server);
      const broken = '{"name":';
      const large = JSON.stringify({ blob: 'x'.repeat(200 * 1024) });
      const cases = [
        { path: '/customers', body: broken, status: 400, action: 'create_customer', resourceId: null },
        { path: '/payments', body: broken, status: 400, action: 'create_payment', resourceId: null },
        { path: '/webhooks', body: large, status: 413, action: 'create_webhook_configuration', resourceId: null },
        { path: `/apps/${fixtures.app}/keys`, body: broken, status: 400, action: 'replace_authentication_keys', resourceId: fixtures.app },
        { path: `/payments/${fixtures.payment}/refunds`, body: large, status: 413, action: 'refund', resourceId: fixtures.payment },
      ] as const;
      for (const c of cases) {
        const res = await alice.post(c.path, c.body).set('content-type', 'application/json');
        expect(res.status, c.path).toBe(c.status);
        expectError(res.body, 'api_request_error', 'body');
      }
      const records = await readAll(server, 'alice', `app_id=${appId}&order=asc`);
      expect(records.map((r) => [r.action_type, r.outcome, r.status_code, r.resource_id])).toEqual(
        cases.map((c) => [c.action, 'failure', c.status, c.resourceId]),
      );
    });

    it('records the trace of an incoming W3C traceparent, and null for a malformed one', async () => {
      const appId = freshAppId();
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      await client(server, 'alice', { 'app-id': appId, traceparent: `00-${traceId}-00f067aa0ba902b7-01` }).get('/payments');
      await client(server, 'alice', { 'app-id': appId, traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }).post('/account/activate');
      const [search] = await readAll(server, 'alice', `app_id=${appId}&action_type=search_payments`);
      expect(search!.trace).toEqual({ trace_id: traceId, span_id: '00f067aa0ba902b7' });
      const [activate] = await readAll(server, 'alice', `app_id=${appId}&action_type=activate_account`);
      expect(activate!.trace).toBeNull();
    });

    it('never stores a secret: details and captured request data are redacted', async () => {
      const appId = freshAppId();
      const alice = client(server, 'alice', { 'app-id': appId });
      const secrets = {
        card_number: '4111111111111111',
        cvv: '737',
        password: 'hunter2-hunter2',
        api_key: 'sk_live_abcdefghijklmnop',
        nested: { authorization: 'Bearer abc.def.ghi', cookie: 'session=s3cr3t-value', list: [{ token: 'tok_secret_value_1' }] },
        note: 'customer card 5555 5555 5555 4444 please',
        jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
      };
      expect((await alice.post('/tokens', secrets)).status).toBe(201);
      const withSecretHeaders = client(server, 'alice', { 'app-id': appId, 'x-request-id': 'req 6011 0009 9013 9424', 'user-agent': 'agent Bearer ya29.secret-ua-token' });
      expect((await withSecretHeaders.post(`/customers/${fixtures.customer}/payment-methods`, { card: { number: '4242 4242 4242 4242', cvc: '123' } })).status).toBe(201);
      const records = await readAll(server, 'alice', `app_id=${appId}`);
      expect(records).toHaveLength(2);
      // Every text of every record of the account, as leaves: a short secret such as the CVV is
      // matched whole, since generated ids and times may contain its digits by chance.
      const leaves = stringLeaves(await readAll(server, 'alice'));
      expect(leaves.filter((leaf) => leaf === secrets.cvv)).toEqual([]);
      for (const secret of ['4111111111111111', 'hunter2', 'sk_live_', 'abc.def.ghi', 's3cr3t', 'tok_secret', '5555 5555 5555 4444', '4242 4242 4242 4242', '6011 0009 9013 9424', 'ya29.secret', 'eyJhbGciOiJIUzI1NiJ9', 'demo-alice', 'demo-bob', 'demo-carol']) {
        expect(leaves.filter((leaf) => leaf.includes(secret)), secret).toEqual([]);
      }
      const method = records.find((r) => r.action_type === 'create_payment_method')!;
      expect(method.request.request_id).toBe('req [REDACTED]');
      expect(method.request.user_agent).toBe('agent Bearer [REDACTED]');
      const token = records.find((r) => r.action_type === 'create_token')!;
      expect(token.details).toMatchObject({
        request_body: {
          card_number: '[REDACTED]',
          cvv: '[REDACTED]',
          password: '[REDACTED]',
          api_key: '[REDACTED]',
          nested: { authorization: '[REDACTED]', cookie: '[REDACTED]', list: [{ token: '[REDACTED]' }] },
          note: 'customer card [REDACTED] please',
          jwt: '[REDACTED]',
        },
      });
    });

    it('records what every PATCH and DELETE changed, with secrets listed as changed and redacted', async () => {
      const appId = freshAppId();
      const alice = client(server, 'alice', { 'app-id': appId });
      const created = await alice.post('/webhooks', { url: 'https://a.example/hook', secret: 'whsec_old_value_1', events: ['payment.created'] });
      expect(created.status).toBe(201);
      const webhook = created.body.id as string;
      const patched = await alice.patch(`/webhooks/${webhook}`, { url: 'https://b.example/hook', secret: 'whsec_new_value_2', events: ['payment.created', 'payment.refunded'] });
      expect(patched.status).toBe(200);
      expect((await alice.delete(`/webhooks/${webhook}`)).status).toBe(204);
      const fresh = async (path: string, body: unknown) => (await alice.post(path, body)).body.id as string;
      expect((await alice.patch(`/apps/${await fresh('/apps', { name: 'US shop' })}`, { name: 'EU shop' })).status).toBe(200);
      expect((await alice.patch(`/providers/${await fresh('/providers', { provider: 'acquirer' })}`, { provider: 'other' })).status).toBe(200);
      expect((await alice.patch('/users/usr_bob/permissions', { role: `role_${appId}` })).status).toBe(200);
      const flow = await fresh('/flows', { name: 'fraud', rules: [{ if: 'amount > 1000', then: 'review' }] });
      expect((await alice.delete(`/flows/${flow}/rules`)).status).toBe(204);
      await server.auditor.flush();
      const records = await readAll(server, 'alice', `app_id=${appId}`);
      const of = (action: string) => records.find((r) => r.action_type === action)!;

      expect(of('create_webhook_configuration').changes).toBeNull();
      expect(of('update_webhook_configuration').changes).toMatchObject({
        url: { from: 'https://a.example/hook', to: 'https://b.example/hook' },
        secret: { from: '[REDACTED]', to: '[REDACTED]' },
        'events.1': { from: null, to: 'payment.refunded' },
      });
      expect(of('update_webhook_configuration').changes).not.toHaveProperty('events.0');
      expect(of('delete_webhook_configuration').changes).toMatchObject({
        id: { from: webhook, to: null },
        url: { from: 'https://b.example/hook', to: null },
        secret: { from: '[REDACTED]', to: '[REDACTED]' },
        events: { from: ['payment.created', 'payment.refunded'], to: null },
      });
      expect(of('update_business_unit').changes).toMatchObject({ name: { from: 'US shop', to: 'EU shop' } });
      expect(of('update_provider_configuration').changes).toMatchObject({ provider: { from: 'acquirer', to: 'other' } });
      expect(of('update_user_permissions').changes).toMatchObject({ role: { to: `role_${appId}` } });
      expect(of('deactivate_decision_engine_flow').changes).toMatchObject({
        'rules.0': { from: { if: 'amount > 1000', then: 'review' }, to: null },
        active: { from: null, to: false },
      });
      expect(JSON.stringify(records)).not.toMatch(/whsec_/);
      // The single record endpoint answers changes too.
      const one = await alice.get(`/audit/${of('update_webhook_configuration').id}`);
      expect(one.body.changes).toEqual(of('update_webhook_configuration').changes);
    });

    describe('Retrieve Audit Data', () => {
      it('lists newest first by default and oldest first with order=asc', async () => {
        const appId = await seed(server, 'alice', 5);
        const desc = await readAudit(server, 'alice', `app_id=${appId}`);
        expect(desc.status).toBe(200);
        expect(desc.data.map((r) => r.created)).toEqual([...desc.data.map((r) => r.created)].sort().reverse());
        expect(desc.data.map((r) => r.id)).toEqual([...desc.data.map((r) => r.id)].sort().reverse());
        const asc = await readAudit(server, 'alice', `app_id=${appId}&order=asc`);
        expect(asc.data.map((r) => r.id)).toEqual(desc.data.map((r) => r.id).reverse());
        expect(desc.data).toHaveLength(5);
        expect(desc.next_cursor).toBeNull();
        expect(desc.link).toBeUndefined();
      });

      it('defaults to 50 records a page and accepts 1–500', async () => {
        const appId = await seed(server, 'alice', 52);
        const page = await readAudit(server, 'alice', `app_id=${appId}`);
        expect(page.data).toHaveLength(50);
        expect(page.next_cursor).toEqual(expect.any(String));
        expect((await readAudit(server, 'alice', `app_id=${appId}&limit=1`)).data).toHaveLength(1);
        expect((await readAudit(server, 'alice', `app_id=${appId}&limit=500`)).data).toHaveLength(52);
      });

      it('pages with next_cursor and the Link header without repeating or skipping, also while records arrive', async () => {
        const appId = await seed(server, 'alice', 11);
        for (const order of ['desc', 'asc'] as const) {
          const all = (await readAudit(server, 'alice', `app_id=${appId}&order=${order}&limit=500`)).data.map((r) => r.id);
          const seen: string[] = [];
          let next: string | null = `/audit?app_id=${appId}&order=${order}&limit=3`;
          let arrivals = 0;
          while (next) {
            const res = await client(server, 'alice').get(next);
            expect(res.status).toBe(200);
            seen.push(...res.body.data.map((r: AuditRecord) => r.id));
            if (res.body.next_cursor) {
              expect(res.headers.link).toMatch(/^<[^>]+>; rel="next"$/);
              const link = new URL(/^<([^>]+)>/.exec(String(res.headers.link))![1]!);
              expect(link.searchParams.get('cursor')).toBe(res.body.next_cursor);
              expect(link.searchParams.get('app_id')).toBe(appId);
              expect(link.searchParams.get('order')).toBe(order);
              next = `${link.pathname}${link.search}`;
            } else {
              expect(res.headers.link).toBeUndefined();
              next = null;
            }
            // New records arrive between pages.
            await client(server, 'alice', { 'app-id': appId }).post('/payments', { amount: 1, currency: 'USD' });
            await server.auditor.flush();
            arrivals++;
          }
          expect(new Set(seen).size).toBe(seen.length);
          if (order === 'desc') expect(seen).toEqual(all);
          else {
            expect(seen.slice(0, all.length)).toEqual(all);
            expect(seen.length).toBeGreaterThan(all.length);
          }
          expect(arrivals).toBeGreaterThan(3);
        }
      });

      it('filters by every parameter, alone and combined', async () => {
        const appId = freshAppId();
        const alice = client(server, 'alice', { 'app-id': appId });
        const bob = client(server, 'bob', { 'app-id': appId });
        const pay = (await alice.post('/payments', { amount: 10, currency: 'USD' })).body.id as string;
        await bob.get(`/payments/${pay}`);
        await alice.post(`/payments/${pay}/refunds`, { amount: 5 });
        await bob.get('/payments/pay_unknown');
        await alice.post('/customers', { name: 'Filter' });
        await server.auditor.flush();
        const ids = async (q: string) => (await readAll(server, 'alice', `app_id=${appId}&${q}`)).map((r) => `${r.action_type}:${r.user.id}:${r.outcome}`).sort();

        expect(await ids('action_type=get_payment')).toEqual(['get_payment:usr_bob:failure', 'get_payment:usr_bob:success']);
        expect(await ids('action_type=refund&action_type=create_customer')).toEqual(['create_customer:usr_alice:success', 'refund:usr_alice:success']);
        expect(await ids('action_type=refund,create_customer')).toEqual(['create_customer:usr_alice:success', 'refund:usr_alice:success']);
        expect(await ids('resource=customer')).toEqual(['create_customer:usr_alice:success']);
        expect(await ids(`resource_id=${pay}`)).toEqual(['create_payment:usr_alice:success', 'get_payment:usr_bob:success', 'refund:usr_alice:success']);
        expect(await ids('user_id=usr_bob')).toEqual(['get_payment:usr_bob:failure', 'get_payment:usr_bob:success']);
        expect(await ids('user_email=alice%40example.com')).toHaveLength(3);
        expect(await ids('outcome=failure')).toEqual(['get_payment:usr_bob:failure']);
        expect(await ids('user_id=usr_bob&outcome=success')).toEqual(['get_payment:usr_bob:success']);
        expect(await ids('resource=payment&user_id=usr_alice&action_type=refund,get_payment')).toEqual(['refund:usr_alice:success']);
        expect(await ids('user_id=usr_nobody')).toEqual([]);

        const all = await readAll(server, 'alice', `app_id=${appId}&order=asc`);
        expect(all).toHaveLength(5);
        const third = all[2]!;
        const from = (await readAll(server, 'alice', `app_id=${appId}&from=${encodeURIComponent(third.created)}`)).map((r) => r.id);
        expect(from).toContain(third.id);
        expect(from.every((id) => all.findIndex((r) => r.id === id) >= 2 || all.find((r) => r.id === id)!.created === third.created)).toBe(true);
        const to = (await readAll(server, 'alice', `app_id=${appId}&to=${encodeURIComponent(third.created)}`)).map((r) => r.id);
        expect(to).not.toContain(third.id);
        expect(new Set([...from, ...to]).size).toBe(5);
        // The same instant written with an offset selects the same records.
        const shifted = new Date(Date.parse(third.created)).toISOString().replace('Z', '+00:00');
        expect((await readAll(server, 'alice', `app_id=${appId}&from=${encodeURIComponent(shifted)}`)).map((r) => r.id)).toEqual(from);
        const plusOne = new Date(Date.parse(third.created) + 3_600_000).toISOString().slice(0, 23) + '+01:00';
        expect((await readAll(server, 'alice', `app_id=${appId}&from=${encodeURIComponent(plusOne)}`)).map((r) => r.id)).toEqual(from);
      });

      it('answers 400 in the contract format, naming the parameter, for every bad query', async () => {
        const cases: [string, string][] = [
          ['foo=1', 'foo'],
          ['account_id=acc_globex', 'account_id'],
          ['action_type=not_an_action', 'action_type'],
          ['action_type=refund,bogus', 'action_type'],
          ['action_type=', 'action_type'],
          ['outcome=maybe', 'outcome'],
          ['from=yesterday', 'from'],
          ['from=2026-11-27T10:00:00', 'from'],
          ['to=2026-11-27', 'to'],
          ['to=2026-13-40T10:00:00Z', 'to'],
          ['limit=0', 'limit'],
          ['limit=501', 'limit'],
          ['limit=ten', 'limit'],
          ['limit=2.5', 'limit'],
          ['limit=1&limit=2', 'limit'],
          ['cursor=garbage', 'cursor'],
          ['cursor=', 'cursor'],
          ['order=newest', 'order'],
        ];
        for (const [query, param] of cases) {
          const res = await client(server, 'alice').get(`/audit?${query}`);
          expect(res.status, query).toBe(400);
          expectError(res.body, 'api_request_error', param);
          expect(res.headers['content-type']).toMatch(/application\/json/);
        }
      });

      it('answers 403 to an authenticated user who may not read, and records the refusal', async () => {
        const appId = freshAppId();
        const res = await client(server, 'bob', { 'app-id': appId }).get('/audit');
        expect(res.status).toBe(403);
        expectError(res.body, 'api_authorization_error');
        const one = await client(server, 'bob', { 'app-id': appId }).get('/audit/aud_anything');
        expect(one.status).toBe(403);
        const reads = await readAll(server, 'alice', `app_id=${appId}&action_type=retrieve_audit_data`);
        expect(reads).toHaveLength(2);
        for (const r of reads) {
          expect(r).toMatchObject({ user: { id: 'usr_bob' }, outcome: 'failure', status_code: 403, resource: 'audit', account_id: 'acc_acme' });
        }
        expect(reads.map((r) => r.resource_id).sort()).toEqual(['aud_anything', null].sort());
      });

      it('records every read, allowed or not, as retrieve_audit_data', async () => {
        const appId = await seed(server, 'alice', 1);
        const reader = client(server, 'alice', { 'app-id': appId });
        const list = await reader.get(`/audit?app_id=${appId}&action_type=create_payment`);
        expect(list.status).toBe(200);
        const id = list.body.data[0].id as string;
        expect((await reader.get(`/audit/${id}`)).status).toBe(200);
        expect((await reader.get('/audit/aud_missing')).status).toBe(404);
        expect((await reader.get('/audit?limit=0')).status).toBe(400);
        const reads = await readAll(server, 'alice', `app_id=${appId}&action_type=retrieve_audit_data&order=asc`);
        expect(reads.map((r) => [r.status_code, r.outcome, r.resource_id, r.request.route])).toEqual([
          [200, 'success', null, '/audit'],
          [200, 'success', id, '/audit/:id'],
          [404, 'failure', 'aud_missing', '/audit/:id'],
          [400, 'failure', null, '/audit'],
        ]);
        for (const r of reads) expect(r).toMatchObject({ resource: 'audit', user: { id: 'usr_alice' }, request: { method: 'GET' } });
      });

      it('returns one record by id, and 404 for an unknown id or another account’s record', async () => {
        const appId = await seed(server, 'alice', 1);
        const [record] = await readAll(server, 'alice', `app_id=${appId}&action_type=create_payment`);
        const mine = await client(server, 'alice').get(`/audit/${record!.id}`);
        expect(mine.status).toBe(200);
        expect(mine.body).toEqual(record);
        const theirs = await client(server, 'carol').get(`/audit/${record!.id}`);
        expect(theirs.status).toBe(404);
        expectError(theirs.body, 'api_request_error', 'id');
        const unknown = await client(server, 'alice').get('/audit/aud_does_not_exist');
        expect(unknown.status).toBe(404);
        expectError(unknown.body, 'api_request_error', 'id');
      });

      it('scopes every read to the caller’s account, whatever the parameters', async () => {
        const acme = await seed(server, 'alice', 2);
        const globex = await seed(server, 'carol', 3);
        const carolAll = await readAll(server, 'carol');
        expect(carolAll.length).toBeGreaterThanOrEqual(3);
        expect(carolAll.every((r) => r.account_id === 'acc_globex')).toBe(true);
        expect(await readAll(server, 'carol', `app_id=${acme}`)).toEqual([]);
        expect(await readAll(server, 'carol', 'user_id=usr_alice')).toEqual([]);
        expect((await readAll(server, 'alice', `app_id=${globex}`))).toEqual([]);
        const aliceAll = await readAll(server, 'alice');
        expect(aliceAll.every((r) => r.account_id === 'acc_acme')).toBe(true);
        // A cursor issued to one account is refused for another.
        const page = await readAudit(server, 'alice', `app_id=${acme}&limit=1`);
        expect(page.next_cursor).toEqual(expect.any(String));
        const stolen = await client(server, 'carol').get(`/audit?app_id=${acme}&limit=1&cursor=${encodeURIComponent(page.next_cursor!)}`);
        expect(stolen.status).toBe(400);
        expectError(stolen.body, 'api_request_error', 'cursor');
      });
    });

    describe('export, stats and openapi.json', () => {
      let document: OpenApiDocument;
      beforeAll(async () => {
        const res = await client(server, 'alice').get('/audit/openapi.json');
        expect(res.status).toBe(200);
        document = res.body;
      });

      /** Fetches `path` as `who` (fetch, not supertest: an export is read as the stream it is). */
      const get = (path: string, who: DemoName | null = 'alice', headers: Record<string, string> = {}) =>
        fetch(`${server.url}${path}`, { headers: { ...(who ? { authorization: `Bearer ${TOKENS[who]}` } : {}), ...headers } });

      it('openapi.json is an OpenAPI 3.1 document a validator accepts, with the catalog’s action types, and is not audited', async () => {
        const result = await new Validator().validate(document as unknown as Parameters<Validator["validate"]>[0]);
        expect(result.errors ?? []).toEqual([]);
        expect(result.valid).toBe(true);
        expect(document.openapi).toMatch(/^3\.1\./);
        expect(Object.keys(document.paths).sort()).toEqual(
          ['/audit', '/audit/{id}', '/audit/export', '/audit/stats', '/audit/openapi.json', '/audit/ui'].sort(),
        );
        const actionParameter = document.paths['/audit']!.get.parameters.find((p: { name: string }) => p.name === 'action_type');
        expect(actionParameter.schema.items.enum).toEqual(Object.keys(paymentsOsCatalog));
        const appId = freshAppId();
        expect((await client(server, 'alice', { 'app-id': appId }).get('/audit/openapi.json')).status).toBe(200);
        expect((await client(server, 'bob', { 'app-id': appId }).get('/audit/openapi.json')).status).toBe(403);
        expect((await client(server, undefined, { 'app-id': appId }).get('/audit/openapi.json')).status).toBe(401);
        expect(await readAll(server, 'alice', `app_id=${appId}`)).toEqual([]);
      });

      it('real answers of every endpoint validate against the document, errors included', async () => {
        const check = openApiChecker(document);
        const appId = await seed(server, 'alice', 2);
        const list = await client(server, 'alice').get(`/audit?app_id=${appId}&limit=1`);
        check('/audit', list.status, list.body);
        const one = await client(server, 'alice').get(`/audit/${list.body.data[0].id}`);
        check('/audit/{id}', one.status, one.body);
        const stats = await client(server, 'alice').get(`/audit/stats?app_id=${appId}`);
        check('/audit/stats', stats.status, stats.body);
        for (const [path, template, who] of [
          ['/audit?limit=0', '/audit', 'alice'],
          ['/audit?bogus=1', '/audit', 'alice'],
          ['/audit', '/audit', 'bob'],
          ['/audit', '/audit', undefined],
          ['/audit/aud_missing', '/audit/{id}', 'alice'],
          ['/audit/stats?interval=week', '/audit/stats', 'alice'],
          ['/audit/stats', '/audit/stats', 'bob'],
          ['/audit/export?format=xlsx', '/audit/export', 'alice'],
          ['/audit/export', '/audit/export', undefined],
        ] as const) {
          const res = await client(server, who).get(path);
          expect(res.status, path).toBeGreaterThanOrEqual(400);
          check(template, res.status, res.body);
        }
      });

      it('export streams every matching record as CSV (formulas defused) or NDJSON, as an attachment', async () => {
        const appId = freshAppId();
        const c = client(server, 'alice', { 'app-id': appId, 'user-agent': '=HYPERLINK("http://evil.example","x")' });
        for (let i = 0; i < 3; i++) expect((await c.post('/payments', { amount: 10 + i, currency: 'USD' })).status).toBe(201);
        expect((await c.post('/payments', { amount: -1 })).status).toBe(400);
        await expect.poll(async () => (await readAll(server, 'alice', `app_id=${appId}`)).length).toBe(4);
        const expected = (await readAll(server, 'alice', `app_id=${appId}`)).map((r) => r.id);

        const csv = await get(`/audit/export?app_id=${appId}`);
        expect(csv.status).toBe(200);
        expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
        expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-\d{4}-\d{2}-\d{2}\.csv"$/);
        const lines = (await csv.text()).split('\r\n');
        expect(lines.pop()).toBe('');
        expect(lines[0]).toBe(CSV_HEADER.trimEnd());
        expect(lines.slice(1).map((line) => line.split(',')[0])).toEqual(expected);
        const agent = CSV_HEADER.trimEnd().split(',').indexOf('request_user_agent');
        for (const line of lines.slice(1)) expect(parseCsvLine(line)[agent]).toBe(`'=HYPERLINK("http://evil.example","x")`);

        const ndjson = await get(`/audit/export?app_id=${appId}&format=ndjson&outcome=success&order=asc`);
        expect(ndjson.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
        expect(ndjson.headers.get('content-disposition')).toMatch(/^attachment; filename=".+\.ndjson"$/);
        const records = (await ndjson.text()).trim().split('\n').map((line) => JSON.parse(line) as AuditRecord);
        expect(records.map((r) => r.outcome)).toEqual(['success', 'success', 'success']);
        expect(records.map((r) => r.id)).toEqual(expected.slice(1).reverse());
      });

      it('export answers 400 for limit or cursor and a bad format, 403 to an operator; every call is audited as a read', async () => {
        const appId = freshAppId();
        const reader = client(server, 'alice', { 'app-id': appId });
        expect((await reader.get('/audit/export?format=ndjson')).status).toBe(200);
        for (const [query, param] of [['limit=5', 'limit'], ['cursor=abc', 'cursor'], ['format=xlsx', 'format'], ['action_type=nope', 'action_type']] as const) {
          const res = await reader.get(`/audit/export?${query}`);
          expect(res.status, query).toBe(400);
          expectError(res.body, 'api_request_error', param);
        }
        const refused = await client(server, 'bob', { 'app-id': appId }).get('/audit/export');
        expect(refused.status).toBe(403);
        expectError(refused.body, 'api_authorization_error');
        const reads = await readAll(server, 'alice', `app_id=${appId}&action_type=retrieve_audit_data&order=asc`);
        expect(reads.map((r) => [r.user.id, r.status_code, r.request.path, r.request.route])).toEqual([
          ['usr_alice', 200, '/audit/export', '/audit/export'],
          ['usr_alice', 400, '/audit/export', '/audit/export'],
          ['usr_alice', 400, '/audit/export', '/audit/export'],
          ['usr_alice', 400, '/audit/export', '/audit/export'],
          ['usr_alice', 400, '/audit/export', '/audit/export'],
          ['usr_bob', 403, '/audit/export', '/audit/export'],
        ]);
        expect(reads[0]!.details).toEqual({ parameters: { format: 'ndjson' } });
      });

      it('stats counts records and failures per bucket, oldest first, empty buckets included, over the last 7 days by default', async () => {
        const appId = await seed(server, 'alice', 4);
        const c = client(server, 'alice', { 'app-id': appId });
        expect((await c.post('/payments', { amount: -1 })).status).toBe(400);
        expect((await c.post('/payments', { amount: 'x' })).status).toBe(400);
        // A record is queued when its response has left (Fastify's onResponse): wait until all six landed.
        await expect.poll(async () => (await readAll(server, 'alice', `app_id=${appId}&action_type=create_payment`)).length).toBe(6);
        const res = await client(server, 'alice').get(`/audit/stats?app_id=${appId}`);
        expect(res.status).toBe(200);
        expect(res.body.interval).toBe('hour');
        const buckets = res.body.buckets as Array<{ start: string; count: number; failures: number }>;
        expect(buckets.length).toBeGreaterThanOrEqual(168);
        expect(buckets.length).toBeLessThanOrEqual(169);
        for (let i = 1; i < buckets.length; i++) expect(Date.parse(buckets[i]!.start) - Date.parse(buckets[i - 1]!.start)).toBe(3_600_000);
        expect(Date.parse(buckets.at(-1)!.start)).toBeLessThanOrEqual(Date.now());
        expect(Date.now() - Date.parse(buckets.at(-1)!.start)).toBeLessThan(3_600_000 + 60_000);
        expect(buckets.reduce((n, b) => n + b.count, 0)).toBe(6);
        expect(buckets.reduce((n, b) => n + b.failures, 0)).toBe(2);
        expect(buckets.filter((b) => b.count === 0).length).toBeGreaterThan(100);

        const from = new Date(Date.now() - 2 * 86_400_000).toISOString();
        const to = new Date(Date.now() + 86_400_000).toISOString();
        const days = await client(server, 'alice').get(`/audit/stats?app_id=${appId}&interval=day&outcome=failure&from=${from}&to=${to}`);
        expect(days.status).toBe(200);
        expect(days.body.buckets).toHaveLength(Math.ceil((Date.parse(to) - Date.parse(from.slice(0, 10))) / 86_400_000));
        expect(days.body.buckets.every((b: { start: string }) => b.start.endsWith('T00:00:00.000Z'))).toBe(true);
        expect(days.body.buckets.reduce((n: number, b: { count: number }) => n + b.count, 0)).toBe(2);
        expect(days.body.buckets.reduce((n: number, b: { failures: number }) => n + b.failures, 0)).toBe(2);
        // Another account's records are never counted.
        const carol = await client(server, 'carol').get(`/audit/stats?app_id=${appId}`);
        expect(carol.body.buckets.reduce((n: number, b: { count: number }) => n + b.count, 0)).toBe(0);
      });

      it('stats answers 400 past 1,000 buckets and for bad parameters, and is audited as a read', async () => {
        const appId = freshAppId();
        const reader = client(server, 'alice', { 'app-id': appId });
        for (const [query, param] of [
          ['from=2020-01-01T00:00:00Z&to=2020-03-01T00:00:00Z', 'interval'],
          ['interval=week', 'interval'],
          ['limit=5', 'limit'],
          ['from=yesterday', 'from'],
          ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
        ] as const) {
          const res = await reader.get(`/audit/stats?${query}`);
          expect(res.status, query).toBe(400);
          expectError(res.body, 'api_request_error', param);
        }
        const ok = await reader.get('/audit/stats?interval=day&from=2020-01-01T00:00:00Z&to=2020-03-01T00:00:00Z');
        expect(ok.status).toBe(200);
        expect(ok.body.buckets).toHaveLength(60);
        expect((await client(server, 'bob', { 'app-id': appId }).get('/audit/stats')).status).toBe(403);
        const reads = await readAll(server, 'alice', `app_id=${appId}&action_type=retrieve_audit_data&order=asc`);
        expect(reads.map((r) => [r.status_code, r.request.route])).toEqual([
          [400, '/audit/stats'],
          [400, '/audit/stats'],
          [400, '/audit/stats'],
          [400, '/audit/stats'],
          [400, '/audit/stats'],
          [200, '/audit/stats'],
          [403, '/audit/stats'],
        ]);
      });
    });
  });
}

/** A store that answers nothing: every read and write fails. */
/** Every string in a JSON value, object keys included. */
function stringLeaves(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringLeaves);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([key, inner]) => [key, ...stringLeaves(inner)]);
  return [];
}

export function brokenStore(): Store {
  const fail = async () => {
    throw new Error('database is unreachable');
  };
  return { append: fail, query: fail, get: fail, close: async () => {} };
}

/** What an example does when its store cannot answer: 503 on reads, the app's own routes unaffected. */
export function describeStoreOutage(app: ExampleApp): void {
  describe(`${app.name} example with a failing store`, () => {
    let server: ExampleServer;
    beforeAll(async () => {
      server = await app.start({ store: brokenStore() });
    });
    afterAll(async () => {
      await server?.close();
    });

    it('answers 503 api_error on reads, keeps serving the app, and reports every failure through onError', async () => {
      const list = await client(server, 'alice').get('/audit');
      expect(list.status).toBe(503);
      expectError(list.body, 'api_error');
      const one = await client(server, 'alice').get('/audit/aud_x');
      expect(one.status).toBe(503);
      expectError(one.body, 'api_error');
      const created = await client(server, 'alice').post('/payments', { amount: 1, currency: 'USD' });
      expect(created.status).toBe(201);
      // A fail-closed action cannot complete without its record.
      const app = await client(server, 'alice').post('/apps', { name: 'x' });
      expect(app.status).toBe(201);
      const keys = await client(server, 'alice').post(`/apps/${app.body.id}/keys`);
      expect(keys.status).toBe(503);
      expectError(keys.body, 'api_error', 'audit_trail');
      expect(keys.body.public_key).toBeUndefined();
      await server.auditor.flush();
      expect(server.errors.length).toBeGreaterThanOrEqual(3);
      expect(server.auditor.stats().failed).toBeGreaterThanOrEqual(1);
    });
  });
}
