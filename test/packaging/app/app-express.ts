// The Express half of the TypeScript app, for the oldest TypeScript the packages support
// (hono's own declarations need a newer one).
import express from 'express';
import { createAuditor, type AuditActor } from '@audit-trail/core';
import { expressAudit } from '@audit-trail/express';
import { postgresStore } from '@audit-trail/postgres';
import { sqliteStore } from '@audit-trail/sqlite';

interface Actor extends AuditActor {
  role: 'admin' | 'operator';
}

const auditor = createAuditor({ store: sqliteStore({ database: './audit.db' }), requiredActions: ['refund'] });
const audit = expressAudit({ auditor, identify: (): Actor | null => null });
export const app = express();
app.use(audit.middleware);
app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), (_req, res) => {
  res.status(201).json({ id: 'rfd_1' });
});
app.use('/audit', audit.router({ authorize: (actor: Actor) => actor.role === 'admin' }));
export const stores = [postgresStore, sqliteStore];
