import type { AddressInfo } from 'node:net';
import { expressAudit } from '@audit-trail/express';
import express, { type ErrorRequestHandler, type Request, type RequestHandler } from 'express';
import { ADMINS_ONLY, behave, ROUTE_MAP, type AdapterHarness } from '../harness.ts';

export const expressHarness: AdapterHarness = {
  name: 'express',
  async start(setup) {
    const header = (req: Request) => (name: string) => req.get(name) ?? null;
    const audit = expressAudit({
      auditor: setup.auditor,
      identify: (req) => setup.identify(header(req)),
      ...(setup.requestId ? { requestId: (req: Request) => setup.requestId!(header(req)) } : {}),
      routes: ROUTE_MAP,
    });
    const app = express();
    app.use(audit.middleware);
    app.use((req, res, next) => (req.get('x-reject') ? void res.status(403).json({ rejected: true }) : next()));
    app.use(express.json());
    const handle = (status: number, body: (req: Request) => object, extra?: RequestHandler): RequestHandler => async (req, res, next) => {
      try {
        const chosen = await behave(header(req));
        extra?.(req, res, () => {});
        if (req.get('x-opt-out')) res.locals.audit.action = null;
        res.status(chosen ?? status).json(body(req));
      } catch (error) {
        next(error);
      }
    };
    app.get('/payments/:payment_id', handle(200, (req) => ({ id: req.params.payment_id })));
    app.get('/customers/:customer_id', audit.action('get_customer', { resourceId: 'customer_id' }), handle(200, (req) => ({ id: req.params.customer_id })));
    app.post('/customers', audit.action('create_customer'), handle(201, () => ({ id: 'cus_new' }), (_req, res) => (res.locals.audit.resourceId = 'cus_new')));
    app.post(
      '/apps/:app_id/keys',
      audit.action('replace_authentication_keys', { resourceId: 'app_id' }),
      handle(201, () => ({ replaced: true }), (_req, res) => void res.setHeader('x-handler', 'yes')),
    );
    app.use('/audit', audit.router({ authorize: ADMINS_ONLY }));
    app.use(audit.errorHandler);
    app.use(((error, _req, res, _next) => {
      res.status(typeof error?.status === 'number' ? error.status : 500).json({ error: String(error?.message) });
    }) as ErrorRequestHandler);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    };
  },
};
