import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { honoAudit } from '@audit-trail/hono';
import { Hono, type Context, type Handler, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { ADMINS_ONLY, behave, ROUTE_MAP, type AdapterHarness } from '../harness.ts';

export const honoHarness: AdapterHarness = {
  name: 'hono',
  async start(setup) {
    const header = (c: Context) => (name: string) => c.req.header(name) ?? null;
    const audit = honoAudit({
      auditor: setup.auditor,
      identify: (c) => setup.identify(header(c)),
      ...(setup.requestId ? { requestId: (c: Context) => setup.requestId!(header(c)) } : {}),
      routes: ROUTE_MAP,
    });
    const app = new Hono();
    app.use(audit.middleware);
    app.use(async (c, next) => {
      if (c.req.header('x-reject')) return c.json({ rejected: true }, 403);
      await next();
    });
    const jsonBody: MiddlewareHandler = async (c, next) => {
      if (c.req.header('content-type')?.startsWith('application/json')) {
        try {
          await c.req.json();
        } catch {
          throw new HTTPException(400, { message: 'not JSON' });
        }
      }
      await next();
    };
    app.use(jsonBody);
    const handle = (status: number, body: (c: Context) => object, extra?: (c: Context) => void): Handler => async (c) => {
      const chosen = await behave(header(c));
      extra?.(c);
      if (c.req.header('x-opt-out')) c.get('audit').action = null;
      return c.json(body(c), (chosen ?? status) as 200);
    };
    app.get('/payments/:payment_id', handle(200, (c) => ({ id: c.req.param('payment_id') })));
    app.get('/customers/:customer_id', audit.action('get_customer', { resourceId: 'customer_id' }), handle(200, (c) => ({ id: c.req.param('customer_id') })));
    app.post('/customers', audit.action('create_customer'), handle(201, () => ({ id: 'cus_new' }), (c) => (c.get('audit').resourceId = 'cus_new')));
    app.post(
      '/apps/:app_id/keys',
      audit.action('replace_authentication_keys', { resourceId: 'app_id' }),
      handle(201, () => ({ replaced: true }), (c) => c.header('x-handler', 'yes')),
    );
    app.route('/audit', audit.router({ authorize: ADMINS_ONLY }));
    app.onError((error, c) => c.json({ error: error.message }, error instanceof HTTPException ? error.status : 500));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await new Promise((resolve) => (server.listening ? resolve(null) : server.once('listening', resolve)));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    };
  },
};
