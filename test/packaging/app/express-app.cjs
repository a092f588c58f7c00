const express = require('express');
const { createAuditor } = require('@audit-trail/core');
const { expressAudit } = require('@audit-trail/express');
const { sqliteStore } = require('@audit-trail/sqlite');

const auditor = createAuditor({ store: sqliteStore({ database: process.argv[2] }) });
const audit = expressAudit({
  auditor,
  identify: (req) => req.get('x-user') === 'alice' ? { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_acme', role: 'admin' } : null,
});
const app = express();
app.use(audit.middleware);
app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), (req, res) => res.status(201).json({ id: 'rfd_1' }));
app.use('/audit', audit.router({ authorize: (actor) => actor.role === 'admin', cursorSecret: 'a-cursor-secret-of-32-characters' }));
const server = app.listen(0, async () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  const headers = { 'x-user': 'alice' };
  const refund = await fetch(`${base}/payments/pay_42/refunds`, { method: 'POST', headers });
  await auditor.flush();
  const list = await (await fetch(`${base}/audit?action_type=refund`, { headers })).json();
  console.log(JSON.stringify({ status: refund.status, list }));
  server.close(() => auditor.close());
});
