import { diffChanges, type Auditor, type PaymentsOsCatalog } from '@audit-trail/core';
import { honoAudit, type AuditVariables } from '@audit-trail/hono';
import { AUDIT_VIEWER, authenticate, DemoDomain, isAuditViewerPath, DemoError, mayReadAudit, PAYMENT_OPERATIONS, PAYMENT_ROUTES, type DemoUser, type Update } from '@audit-trail/example-shared';
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { jsonBody, type BodyVariables } from './body.ts';

export { serveNode } from './node.ts';

export interface ExampleOptions {
  auditor: Auditor<PaymentsOsCatalog>;
  /** Signs audit page cursors; set it when several instances serve one store. */
  cursorSecret?: string;
}

/** The example's context: the audit context, the authenticated demo user and the parsed body. */
export type AppEnv = { Variables: AuditVariables & BodyVariables & { user: DemoUser } };

/** JSON as Express's `res.json` sends it, so that one client sees the same bytes from both examples. */
function json(c: Context, body: unknown, status: ContentfulStatusCode = 200): Response {
  return c.json(body, status, { 'content-type': 'application/json; charset=utf-8' });
}

/** The PaymentsOS-like demo API of the demo (README, "The demo") on Hono, audited. */
export function createApp({ auditor, cursorSecret }: ExampleOptions): Hono<AppEnv> {
  const domain = new DemoDomain();
  const audit = honoAudit({
    auditor,
    identify: (c: Context<AppEnv>) => c.get('user') ?? null,
    routes: PAYMENT_ROUTES,
  });
  // Not strict, like Express: `/payments/` is `/payments`.
  const app = new Hono<AppEnv>({ strict: false });

  app.get('/healthz', (c) => json(c, { status: 'ok' }));

  app.use(audit.middleware);

  app.use(async (c, next) => {
    if (isAuditViewerPath(c.req.path)) return next();
    const user = authenticate(c.req.header('authorization'));
    if (!user) {
      return json(
        c,
        {
          category: 'api_authentication_error',
          description: 'No valid credentials were given; send Authorization: Bearer <token>.',
          more_info: 'authorization',
        },
        401,
      );
    }
    c.set('user', user);
    await next();
  });

  app.use(jsonBody);

  // What the client sent goes into the record's details; core redacts secrets in it.
  app.use(async (c, next) => {
    const body = c.get('body');
    if (body && typeof body === 'object' && Object.keys(body).length > 0) {
      c.get('audit').details.request_body = body;
    }
    await next();
  });

  const account = (c: Context<AppEnv>) => c.get('user').account_id;
  const created = (c: Context<AppEnv>, object: { id: string }) => {
    c.get('audit').resourceId = object.id;
    return json(c, object, 201);
  };
  // What an update changed goes into the record's changes (core redacts secrets in it too).
  const updated = (c: Context<AppEnv>, { before, after }: Update) => {
    c.get('audit').changes = diffChanges(before, after);
    return json(c, after);
  };
  const deleted = (c: Context<AppEnv>, before: object) => {
    c.get('audit').changes = diffChanges(before, null);
    return c.body(null, 204);
  };

  app.post('/account/activate', audit.action('activate_account'), (c) => json(c, { account_id: account(c), activated: true }));

  app.post('/payments', (c) => created(c, domain.createPayment(account(c), c.get('body'))));
  app.get('/payments', (c) => json(c, domain.searchPayments(account(c))));
  app.get('/payments/:payment_id', (c) => json(c, domain.getPayment(account(c), c.req.param('payment_id'))));
  for (const [path, kind] of PAYMENT_OPERATIONS) {
    // The resource of these actions is the payment (from the route map), not the new operation.
    app.post(`/payments/:payment_id/${path}`, (c) =>
      json(c, domain.paymentOperation(account(c), c.req.param('payment_id'), kind, c.get('body')), 201),
    );
  }

  app.post('/customers', audit.action('create_customer'), (c) => created(c, domain.create(account(c), 'cus', c.get('body'))));
  app.get('/customers/:customer_id', audit.action('get_customer', { resourceId: 'customer_id' }), (c) =>
    json(c, domain.get(account(c), 'cus', c.req.param('customer_id'), 'customer_id')),
  );
  app.post('/customers/:customer_id/payment-methods', audit.action('create_payment_method', { resourceId: 'customer_id' }), (c) => {
    const customerId = c.req.param('customer_id');
    domain.get(account(c), 'cus', customerId, 'customer_id');
    return json(c, domain.create(account(c), 'pm', c.get('body'), { customer_id: customerId }), 201);
  });
  app.get('/customers/:customer_id/payment-methods', audit.action('get_payment_methods', { resourceId: 'customer_id' }), (c) => {
    domain.get(account(c), 'cus', c.req.param('customer_id'), 'customer_id');
    return json(c, []);
  });

  app.post('/tokens', audit.action('create_token'), (c) => created(c, domain.create(account(c), 'tok', c.get('body'))));
  app.post('/apps', audit.action('create_business_unit'), (c) => created(c, domain.create(account(c), 'app', c.get('body'))));
  app.patch('/apps/:app_id', audit.action('update_business_unit', { resourceId: 'app_id' }), (c) =>
    updated(c, domain.update(account(c), 'app', c.req.param('app_id'), 'app_id', c.get('body'))),
  );
  app.post('/apps/:app_id/keys', audit.action('replace_authentication_keys', { resourceId: 'app_id' }), (c) => {
    const appId = c.req.param('app_id');
    domain.get(account(c), 'app', appId, 'app_id');
    return json(c, { app_id: appId, public_key: crypto.randomUUID(), replaced: new Date().toISOString() }, 201);
  });
  app.post('/providers', audit.action('create_provider_configuration'), (c) => created(c, domain.create(account(c), 'prv', c.get('body'))));
  app.patch('/providers/:provider_id', audit.action('update_provider_configuration', { resourceId: 'provider_id' }), (c) =>
    updated(c, domain.update(account(c), 'prv', c.req.param('provider_id'), 'provider_id', c.get('body'))),
  );
  app.post('/webhooks', audit.action('create_webhook_configuration'), (c) => created(c, domain.create(account(c), 'whk', c.get('body'))));
  app.patch('/webhooks/:webhook_id', audit.action('update_webhook_configuration', { resourceId: 'webhook_id' }), (c) =>
    updated(c, domain.update(account(c), 'whk', c.req.param('webhook_id'), 'webhook_id', c.get('body'))),
  );
  app.delete('/webhooks/:webhook_id', audit.action('delete_webhook_configuration', { resourceId: 'webhook_id' }), (c) => {
    return deleted(c, domain.remove(account(c), 'whk', c.req.param('webhook_id'), 'webhook_id'));
  });
  app.post('/flows', audit.action('create_decision_engine_flow'), (c) => created(c, domain.create(account(c), 'flw', c.get('body'))));
  app.delete('/flows/:flow_id/rules', audit.action('deactivate_decision_engine_flow', { resourceId: 'flow_id' }), (c) => {
    // The rules removed are listed with to: null.
    const { before, after } = domain.update(account(c), 'flw', c.req.param('flow_id'), 'flow_id', { rules: [], active: false });
    c.get('audit').changes = diffChanges(before, after);
    return c.body(null, 204);
  });
  app.post('/reports', audit.action('generate_report'), (c) => created(c, domain.create(account(c), 'rpt', c.get('body'))));
  app.post('/report-templates', audit.action('create_report_template'), (c) =>
    created(c, domain.create(account(c), 'tpl', c.get('body'))),
  );
  app.post('/users/invitations', audit.action('invite_user'), (c) => created(c, domain.create(account(c), 'inv', c.get('body'))));
  app.post('/users/invitations/:invitation_id/accept', audit.action('user_accepts_invite', { resourceId: 'invitation_id' }), (c) =>
    updated(c, domain.update(account(c), 'inv', c.req.param('invitation_id'), 'invitation_id', { accepted: true })),
  );
  app.patch('/users/:user_id/permissions', audit.action('update_user_permissions', { resourceId: 'user_id' }), (c) =>
    updated(c, domain.setPermissions(account(c), c.req.param('user_id'), c.get('body'))),
  );

  app.route('/audit', audit.router({ authorize: mayReadAudit, viewer: AUDIT_VIEWER, ...(cursorSecret ? { cursorSecret } : {}) }));

  app.notFound((c) => json(c, { category: 'api_request_error', description: 'no such route', more_info: 'path' }, 404));

  app.onError((err, c) => {
    if (err instanceof DemoError) return json(c, err.body, err.status as ContentfulStatusCode);
    const reported = (err as { status?: unknown }).status;
    const status = typeof reported === 'number' && reported >= 400 && reported < 500 ? reported : 500;
    if (status === 500) console.error(err);
    return json(
      c,
      {
        category: status === 500 ? 'api_error' : 'api_request_error',
        description: status === 500 ? 'internal error' : 'the request body is not valid JSON',
        more_info: status === 500 ? 'server' : 'body',
      },
      status as ContentfulStatusCode,
    );
  });
  return app;
}
