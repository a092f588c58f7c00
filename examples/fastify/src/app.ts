import type { Server } from 'node:http';
import { diffChanges, type Auditor, type PaymentsOsCatalog } from '@audit-trail/core';
import { fastifyAudit } from '@audit-trail/fastify';
import { AUDIT_VIEWER, authenticate, DemoDomain, isAuditViewerPath, DemoError, mayReadAudit, PAYMENT_OPERATIONS, PAYMENT_ROUTES, type DemoUser, type Update } from '@audit-trail/example-shared';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated demo user. */
    user: DemoUser;
  }
}

export interface ExampleOptions {
  auditor: Auditor<PaymentsOsCatalog>;
  /** Signs audit page cursors; set it when several instances serve one store. */
  cursorSecret?: string;
}

/** What `express.json({ limit: '100kb' })` accepts, so that all examples answer alike. */
const BODY_LIMIT = 100 * 1024;

/** The PaymentsOS-like demo API of the example apps on Fastify 5, audited. */
export function createApp({ auditor, cursorSecret }: ExampleOptions): FastifyInstance {
  const domain = new DemoDomain();
  const audit = fastifyAudit({
    auditor,
    identify: (request) => request.user ?? null,
    routes: PAYMENT_ROUTES,
  });
  // Node's keep-alive timeout (Fastify's own is 72 s): a graceful shutdown waits for idle keep-alive connections.
  const app = Fastify({ bodyLimit: BODY_LIMIT, keepAliveTimeout: 5_000, routerOptions: { ignoreTrailingSlash: true } });

  // Bodies that are not JSON are ignored, as express.json() ignores them.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));
  // An empty JSON body is `{}`, as in Express.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, {});
    const first = text.trimStart()[0];
    if (first !== '{' && first !== '[') return done(bodyError(400), undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(bodyError(400), undefined);
    }
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.register(audit.plugin);

  app.register(async (api) => {
    // Set before the routes: a Fastify route keeps the handlers of when it was added.
    api.setNotFoundHandler((_request, reply) => reply.code(404).send({ category: 'api_request_error', description: 'no such route', more_info: 'path' }));
    api.setErrorHandler(errorHandler);
    api.decorateRequest('user', null as unknown as DemoUser);
    api.addHook('onRequest', async (request, reply) => {
      if (isAuditViewerPath(request.url.split('?')[0]!)) return;
      const user = authenticate(request.headers.authorization);
      if (!user) {
        return reply.code(401).send({
          category: 'api_authentication_error',
          description: 'No valid credentials were given; send Authorization: Bearer <token>.',
          more_info: 'authorization',
        });
      }
      request.user = user;
    });
    // What the client sent goes into the record's details; core redacts secrets in it.
    api.addHook('preHandler', async (request) => {
      const body = request.body;
      if (body && typeof body === 'object' && Object.keys(body).length > 0) request.audit.details.request_body = body;
    });

    const account = (request: FastifyRequest) => request.user.account_id;
    const param = (request: FastifyRequest, name: string) => String((request.params as Record<string, string>)[name]);
    const created = (request: FastifyRequest, reply: FastifyReply, object: { id: string }) => {
      request.audit.resourceId = object.id;
      return reply.code(201).send(object);
    };
    // What an update changed goes into the record's changes (core redacts secrets in it too).
    const updated = (request: FastifyRequest, { before, after }: Update) => {
      request.audit.changes = diffChanges(before, after);
      return after;
    };
    const deleted = (request: FastifyRequest, reply: FastifyReply, before: object) => {
      request.audit.changes = diffChanges(before, null);
      return reply.code(204).send();
    };

    api.post('/account/activate', { config: audit.action('activate_account') }, async (request) => ({ account_id: account(request), activated: true }));

    api.post('/payments', (request, reply) => created(request, reply, domain.createPayment(account(request), request.body)));
    api.get('/payments', async (request) => domain.searchPayments(account(request)));
    api.get('/payments/:payment_id', async (request) => domain.getPayment(account(request), param(request, 'payment_id')));
    for (const [path, kind] of PAYMENT_OPERATIONS) {
      // The resource of these actions is the payment (from the route map), not the new operation.
      api.post(`/payments/:payment_id/${path}`, (request, reply) =>
        reply.code(201).send(domain.paymentOperation(account(request), param(request, 'payment_id'), kind, request.body)),
      );
    }

    api.post('/customers', { config: audit.action('create_customer') }, (request, reply) =>
      created(request, reply, domain.create(account(request), 'cus', request.body)),
    );
    api.get('/customers/:customer_id', { config: audit.action('get_customer', { resourceId: 'customer_id' }) }, async (request) =>
      domain.get(account(request), 'cus', param(request, 'customer_id'), 'customer_id'),
    );
    api.post(
      '/customers/:customer_id/payment-methods',
      { config: audit.action('create_payment_method', { resourceId: 'customer_id' }) },
      (request, reply) => {
        const customerId = param(request, 'customer_id');
        domain.get(account(request), 'cus', customerId, 'customer_id');
        return reply.code(201).send(domain.create(account(request), 'pm', request.body, { customer_id: customerId }));
      },
    );
    api.get(
      '/customers/:customer_id/payment-methods',
      { config: audit.action('get_payment_methods', { resourceId: 'customer_id' }) },
      async (request) => {
        domain.get(account(request), 'cus', param(request, 'customer_id'), 'customer_id');
        return [];
      },
    );

    api.post('/tokens', { config: audit.action('create_token') }, (request, reply) => created(request, reply, domain.create(account(request), 'tok', request.body)));
    api.post('/apps', { config: audit.action('create_business_unit') }, (request, reply) =>
      created(request, reply, domain.create(account(request), 'app', request.body)),
    );
    api.patch('/apps/:app_id', { config: audit.action('update_business_unit', { resourceId: 'app_id' }) }, async (request) =>
      updated(request, domain.update(account(request), 'app', param(request, 'app_id'), 'app_id', request.body)),
    );
    api.post('/apps/:app_id/keys', { config: audit.action('replace_authentication_keys', { resourceId: 'app_id' }) }, (request, reply) => {
      const appId = param(request, 'app_id');
      domain.get(account(request), 'app', appId, 'app_id');
      return reply.code(201).send({ app_id: appId, public_key: crypto.randomUUID(), replaced: new Date().toISOString() });
    });
    api.post('/providers', { config: audit.action('create_provider_configuration') }, (request, reply) =>
      created(request, reply, domain.create(account(request), 'prv', request.body)),
    );
    api.patch('/providers/:provider_id', { config: audit.action('update_provider_configuration', { resourceId: 'provider_id' }) }, async (request) =>
      updated(request, domain.update(account(request), 'prv', param(request, 'provider_id'), 'provider_id', request.body)),
    );
    api.post('/webhooks', { config: audit.action('create_webhook_configuration') }, (request, reply) =>
      created(request, reply, domain.create(account(request), 'whk', request.body)),
    );
    api.patch('/webhooks/:webhook_id', { config: audit.action('update_webhook_configuration', { resourceId: 'webhook_id' }) }, async (request) =>
      updated(request, domain.update(account(request), 'whk', param(request, 'webhook_id'), 'webhook_id', request.body)),
    );
    api.delete('/webhooks/:webhook_id', { config: audit.action('delete_webhook_configuration', { resourceId: 'webhook_id' }) }, (request, reply) => {
      return deleted(request, reply, domain.remove(account(request), 'whk', param(request, 'webhook_id'), 'webhook_id'));
    });
    api.post('/flows', { config: audit.action('create_decision_engine_flow') }, (request, reply) =>
      created(request, reply, domain.create(account(request), 'flw', request.body)),
    );
    api.delete('/flows/:flow_id/rules', { config: audit.action('deactivate_decision_engine_flow', { resourceId: 'flow_id' }) }, (request, reply) => {
      // The rules removed are listed with to: null.
      const { before, after } = domain.update(account(request), 'flw', param(request, 'flow_id'), 'flow_id', { rules: [], active: false });
      request.audit.changes = diffChanges(before, after);
      return reply.code(204).send();
    });
    api.post('/reports', { config: audit.action('generate_report') }, (request, reply) => created(request, reply, domain.create(account(request), 'rpt', request.body)));
    api.post('/report-templates', { config: audit.action('create_report_template') }, (request, reply) =>
      created(request, reply, domain.create(account(request), 'tpl', request.body)),
    );
    api.post('/users/invitations', { config: audit.action('invite_user') }, (request, reply) =>
      created(request, reply, domain.create(account(request), 'inv', request.body)),
    );
    api.post(
      '/users/invitations/:invitation_id/accept',
      { config: audit.action('user_accepts_invite', { resourceId: 'invitation_id' }) },
      async (request) => updated(request, domain.update(account(request), 'inv', param(request, 'invitation_id'), 'invitation_id', { accepted: true })),
    );
    api.patch('/users/:user_id/permissions', { config: audit.action('update_user_permissions', { resourceId: 'user_id' }) }, async (request) =>
      updated(request, domain.setPermissions(account(request), param(request, 'user_id'), request.body)),
    );

    await api.register(audit.router({ authorize: mayReadAudit, viewer: AUDIT_VIEWER, ...(cursorSecret ? { cursorSecret } : {}) }), { prefix: '/audit' });

  });
  return app;
}

function bodyError(status: number): DemoError {
  return new DemoError(status, {
    category: 'api_request_error',
    description: status === 413 ? 'the request body is too large' : 'the request body is not valid JSON',
    more_info: 'body',
  });
}

function errorHandler(error: FastifyError | DemoError, _request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof DemoError) return reply.code(error.status).send(error.body);
  const reported = (error as FastifyError).statusCode;
  const status = typeof reported === 'number' && reported >= 400 && reported < 500 ? reported : 500;
  if (status === 500) console.error(error);
  return reply.code(status).send(
    status === 500
      ? { category: 'api_error', description: 'internal error', more_info: 'server' }
      : bodyError(status === 413 ? 413 : 400).body,
  );
}

/**
 * Serves the app like Express's `app.listen(port, hostname)`: returns the
 * HTTP server at once; it emits `listening` when ready.
 */
export function serveFastify(app: FastifyInstance, port: number, hostname?: string): Server {
  app.listen({ port, ...(hostname ? { host: hostname } : {}) }).catch((error: unknown) => app.server.emit('error', error));
  return app.server;
}
