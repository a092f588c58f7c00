// The Hono app of the packaging test, as a module every runtime loads from node_modules.
import { createAuditor } from '@audit-trail/core';
import { honoAudit } from '@audit-trail/hono';
import { Hono } from 'hono';

export function makeApp(store) {
  const auditor = createAuditor({ store });
  const audit = honoAudit({
    auditor,
    identify: (c) => c.req.header('x-user') === 'alice' ? { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_acme', role: 'admin' } : null,
  });
  const app = new Hono();
  app.use(audit.middleware);
  app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), (c) => c.json({ id: 'rfd_1' }, 201));
  app.route('/audit', audit.router({ authorize: (actor) => actor.role === 'admin', cursorSecret: 'a-cursor-secret-of-32-characters' }));
  return app;
}

/** Records a refund, then reads it back through the router once the batched write has landed. */
export async function drive(fetcher) {
  const headers = { 'x-user': 'alice' };
  const refund = await fetcher(new Request('http://app.test/payments/pay_42/refunds', { method: 'POST', headers }));
  let list;
  for (let attempt = 0; attempt < 100; attempt++) {
    list = await (await fetcher(new Request('http://app.test/audit?action_type=refund', { headers }))).json();
    if (list.data?.length) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { status: refund.status, list };
}
