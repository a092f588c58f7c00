import type { AddressInfo } from 'node:net';
import { fastifyAudit } from '@audit-trail/fastify';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { ADMINS_ONLY, behave, ROUTE_MAP, type AdapterHarness } from '../harness.ts';

export const fastifyHarness: AdapterHarness = {
  name: 'fastify',
  async start(setup) {
    const header = (request: FastifyRequest) => (name: string) => {
      const value = request.headers[name];
      return (Array.isArray(value) ? value[0] : value) ?? null;
    };
    const audit = fastifyAudit({
      auditor: setup.auditor,
      identify: (request) => setup.identify(header(request)),
      ...(setup.requestId ? { requestId: (request: FastifyRequest) => setup.requestId!(header(request)) } : {}),
      routes: ROUTE_MAP,
    });
    const app = Fastify();
    await app.register(audit.plugin);
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers['x-reject']) return reply.code(403).send({ rejected: true });
    });
    const handle =
      (status: number, body: (request: FastifyRequest) => object, extra?: (request: FastifyRequest, reply: FastifyReply) => void) =>
      async (request: FastifyRequest, reply: FastifyReply) => {
        const chosen = await behave(header(request));
        extra?.(request, reply);
        if (request.headers['x-opt-out']) request.audit.action = null;
        return reply.code(chosen ?? status).send(body(request));
      };
    const param = (request: FastifyRequest, name: string) => (request.params as Record<string, string>)[name];
    app.get('/payments/:payment_id', handle(200, (r) => ({ id: param(r, 'payment_id') })));
    app.get('/customers/:customer_id', { config: audit.action('get_customer', { resourceId: 'customer_id' }) }, handle(200, (r) => ({ id: param(r, 'customer_id') })));
    app.post('/customers', { config: audit.action('create_customer') }, handle(201, () => ({ id: 'cus_new' }), (r) => (r.audit.resourceId = 'cus_new')));
    app.post(
      '/apps/:app_id/keys',
      { config: audit.action('replace_authentication_keys', { resourceId: 'app_id' }) },
      handle(201, () => ({ replaced: true }), (_r, reply) => void reply.header('x-handler', 'yes')),
    );
    await app.register(audit.router({ authorize: ADMINS_ONLY }), { prefix: '/audit' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return {
      url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      close: async () => {
        app.server.closeAllConnections();
        await app.close();
      },
    };
  },
};
