/**
 * A tiny audited Hono app for the portability tests: bundled once with esbuild from the built packages
 * (no Node built-ins allowed) and run unchanged in Node, Bun, Deno and workerd.
 * Its default export is the app, which is also a Workers module (`fetch`).
 */
import { createAuditor, memoryStore, type AuditActor } from '@audit-trail/core';
import { honoAudit } from '@audit-trail/hono';
import { Hono } from 'hono';

interface Actor extends AuditActor {
  role: 'admin' | 'operator';
}

const users: Record<string, Actor> = {
  alice: { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_acme', role: 'admin' },
  bob: { user: { id: 'usr_bob', email: 'bob@example.com' }, account_id: 'acc_acme', role: 'operator' },
};

const errors: string[] = [];
const auditor = createAuditor({ store: memoryStore(), onError: (error) => errors.push(`${error.code}: ${error.message}`) });
const audit = honoAudit({ auditor, identify: (c) => users[c.req.header('x-user') ?? ''] ?? null });

declare const Bun: unknown;
declare const Deno: unknown;

/** Which runtime runs this bundle, so that a test cannot pass in the wrong one. */
function runtime(): string {
  if (typeof Bun !== 'undefined') return 'bun';
  if (typeof Deno !== 'undefined') return 'deno';
  if (typeof navigator !== 'undefined' && navigator.userAgent === 'Cloudflare-Workers') return 'workerd';
  const process = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (process?.versions?.node) return 'node';
  return 'unknown';
}

const app = new Hono();
app.use(audit.middleware);
app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), async (c) => {
  const body = (await c.req.json()) as { amount?: number };
  return c.json({ id: 'rfd_1', payment_id: c.req.param('payment_id'), amount: body.amount ?? null }, 201);
});
app.route('/audit', audit.router({ authorize: (actor: Actor) => actor.role === 'admin' }));
// Not audited: lets a driver see whether the write landed without an audited request flushing it.
app.get('/stats', (c) => c.json({ runtime: runtime(), ...auditor.stats(), errors }));

export default app;
