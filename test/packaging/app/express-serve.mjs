// The Express app of the packaging test, given the packages by its caller: express-app.mjs
// loads them with `import`, express-app.cjs with `require()`. Records a refund over real
// HTTP, reads it back through the audit router, prints both as one JSON line, and closes.
export function serve({ express, createAuditor, expressAudit, sqliteStore }, database) {
  const auditor = createAuditor({ store: sqliteStore({ database }) });
  const audit = expressAudit({
    auditor,
    identify: (req) =>
      req.get('x-user') === 'alice' ? { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_acme', role: 'admin' } : null,
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
}
