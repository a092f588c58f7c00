import { diffChanges, type Auditor, type PaymentsOsCatalog } from '@audit-trail/core';
import { expressAudit } from '@audit-trail/express';
import { AUDIT_VIEWER, authenticate, DemoDomain, isAuditViewerPath, DemoError, mayReadAudit, PAYMENT_OPERATIONS, PAYMENT_ROUTES, type DemoUser, type Update } from '@audit-trail/example-shared';
import express, { type ErrorRequestHandler, type Request, type Response } from 'express';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** The authenticated demo user. */
      user: DemoUser;
    }
  }
}

export interface ExampleOptions {
  auditor: Auditor<PaymentsOsCatalog>;
  /** Signs audit page cursors; set it when several instances serve one store. */
  cursorSecret?: string;
}

/** The PaymentsOS-like demo API of the demo (README, "The demo") on Express 5, audited. */
export function createApp({ auditor, cursorSecret }: ExampleOptions): express.Express {
  const domain = new DemoDomain();
  const audit = expressAudit({
    auditor,
    identify: (_req, res) => res.locals.user ?? null,
    routes: PAYMENT_ROUTES,
  });
  const app = express();

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.use(audit.middleware);

  app.use((req, res, next) => {
    if (isAuditViewerPath(req.path)) return next();
    const user = authenticate(req.get('authorization'));
    if (!user) {
      res.status(401).json({
        category: 'api_authentication_error',
        description: 'No valid credentials were given; send Authorization: Bearer <token>.',
        more_info: 'authorization',
      });
      return;
    }
    res.locals.user = user;
    next();
  });

  app.use(express.json({ limit: '100kb' }));

  // What the client sent goes into the record's details; core redacts secrets in it.
  app.use((req, res, next) => {
    if (req.body && typeof req.body === 'object' && Object.keys(req.body).length > 0) {
      res.locals.audit.details.request_body = req.body;
    }
    next();
  });

  const account = (res: Response) => res.locals.user.account_id;
  const param = (req: Request, name: string) => String(req.params[name]);
  const created = (res: Response, object: { id: string }) => {
    res.locals.audit.resourceId = object.id;
    res.status(201).json(object);
  };
  // What an update changed goes into the record's changes (core redacts secrets in it too).
  const updated = (res: Response, { before, after }: Update) => {
    res.locals.audit.changes = diffChanges(before, after);
    res.json(after);
  };
  const deleted = (res: Response, before: object) => {
    res.locals.audit.changes = diffChanges(before, null);
    res.status(204).end();
  };

  app.post('/account/activate', audit.action('activate_account'), (_req, res) => {
    res.json({ account_id: account(res), activated: true });
  });

  app.post('/payments', (req, res) => created(res, domain.createPayment(account(res), req.body)));
  app.get('/payments', (_req, res) => {
    res.json(domain.searchPayments(account(res)));
  });
  app.get('/payments/:payment_id', (req, res) => {
    res.json(domain.getPayment(account(res), param(req, 'payment_id')));
  });
  for (const [path, kind] of PAYMENT_OPERATIONS) {
    // The resource of these actions is the payment (from the route map), not the new operation.
    app.post(`/payments/:payment_id/${path}`, (req, res) => {
      res.status(201).json(domain.paymentOperation(account(res), param(req, 'payment_id'), kind, req.body));
    });
  }

  app.post('/customers', audit.action('create_customer'), (req, res) => created(res, domain.create(account(res), 'cus', req.body)));
  app.get('/customers/:customer_id', audit.action('get_customer', { resourceId: 'customer_id' }), (req, res) => {
    res.json(domain.get(account(res), 'cus', param(req, 'customer_id'), 'customer_id'));
  });
  app.post(
    '/customers/:customer_id/payment-methods',
    audit.action('create_payment_method', { resourceId: 'customer_id' }),
    (req, res) => {
      domain.get(account(res), 'cus', param(req, 'customer_id'), 'customer_id');
      res.status(201).json(domain.create(account(res), 'pm', req.body, { customer_id: param(req, 'customer_id') }));
    },
  );
  app.get(
    '/customers/:customer_id/payment-methods',
    audit.action('get_payment_methods', { resourceId: 'customer_id' }),
    (req, res) => {
      domain.get(account(res), 'cus', param(req, 'customer_id'), 'customer_id');
      res.json([]);
    },
  );

  app.post('/tokens', audit.action('create_token'), (req, res) => created(res, domain.create(account(res), 'tok', req.body)));
  app.post('/apps', audit.action('create_business_unit'), (req, res) => created(res, domain.create(account(res), 'app', req.body)));
  app.patch('/apps/:app_id', audit.action('update_business_unit', { resourceId: 'app_id' }), (req, res) => {
    updated(res, domain.update(account(res), 'app', param(req, 'app_id'), 'app_id', req.body));
  });
  app.post('/apps/:app_id/keys', audit.action('replace_authentication_keys', { resourceId: 'app_id' }), (req, res) => {
    domain.get(account(res), 'app', param(req, 'app_id'), 'app_id');
    res.status(201).json({ app_id: param(req, 'app_id'), public_key: crypto.randomUUID(), replaced: new Date().toISOString() });
  });
  app.post('/providers', audit.action('create_provider_configuration'), (req, res) =>
    created(res, domain.create(account(res), 'prv', req.body)),
  );
  app.patch('/providers/:provider_id', audit.action('update_provider_configuration', { resourceId: 'provider_id' }), (req, res) => {
    updated(res, domain.update(account(res), 'prv', param(req, 'provider_id'), 'provider_id', req.body));
  });
  app.post('/webhooks', audit.action('create_webhook_configuration'), (req, res) => created(res, domain.create(account(res), 'whk', req.body)));
  app.patch('/webhooks/:webhook_id', audit.action('update_webhook_configuration', { resourceId: 'webhook_id' }), (req, res) => {
    updated(res, domain.update(account(res), 'whk', param(req, 'webhook_id'), 'webhook_id', req.body));
  });
  app.delete('/webhooks/:webhook_id', audit.action('delete_webhook_configuration', { resourceId: 'webhook_id' }), (req, res) => {
    deleted(res, domain.remove(account(res), 'whk', param(req, 'webhook_id'), 'webhook_id'));
  });
  app.post('/flows', audit.action('create_decision_engine_flow'), (req, res) => created(res, domain.create(account(res), 'flw', req.body)));
  app.delete('/flows/:flow_id/rules', audit.action('deactivate_decision_engine_flow', { resourceId: 'flow_id' }), (req, res) => {
    // The rules removed are listed with to: null.
    const { before, after } = domain.update(account(res), 'flw', param(req, 'flow_id'), 'flow_id', { rules: [], active: false });
    res.locals.audit.changes = diffChanges(before, after);
    res.status(204).end();
  });
  app.post('/reports', audit.action('generate_report'), (req, res) => created(res, domain.create(account(res), 'rpt', req.body)));
  app.post('/report-templates', audit.action('create_report_template'), (req, res) =>
    created(res, domain.create(account(res), 'tpl', req.body)),
  );
  app.post('/users/invitations', audit.action('invite_user'), (req, res) => created(res, domain.create(account(res), 'inv', req.body)));
  app.post(
    '/users/invitations/:invitation_id/accept',
    audit.action('user_accepts_invite', { resourceId: 'invitation_id' }),
    (req, res) => {
      updated(res, domain.update(account(res), 'inv', param(req, 'invitation_id'), 'invitation_id', { accepted: true }));
    },
  );
  app.patch('/users/:user_id/permissions', audit.action('update_user_permissions', { resourceId: 'user_id' }), (req, res) => {
    updated(res, domain.setPermissions(account(res), param(req, 'user_id'), req.body));
  });

  app.use('/audit', audit.router({ authorize: mayReadAudit, viewer: AUDIT_VIEWER, ...(cursorSecret ? { cursorSecret } : {}) }));

  app.use((_req, res) => {
    res.status(404).json({ category: 'api_request_error', description: 'no such route', more_info: 'path' });
  });
  app.use(audit.errorHandler);
  app.use(errorHandler);
  return app;
}

const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  if (err instanceof DemoError) {
    res.status(err.status).json(err.body);
    return;
  }
  const status = typeof err?.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
  if (status === 500) console.error(err);
  res.status(status).json({
    category: status === 500 ? 'api_error' : 'api_request_error',
    description:
      status === 500
        ? 'internal error'
        : err?.type === 'entity.too.large'
          ? 'the request body is too large'
          : 'the request body is not valid JSON',
    more_info: status === 500 ? 'server' : 'body',
  });
};
