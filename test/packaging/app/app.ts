// A TypeScript app as a user writes it, type-checked against the installed packages' .d.ts.
import express from 'express';
import { createAuditor, memoryStore, type AuditActor } from '@audit-trail/core';
import { expressAudit } from '@audit-trail/express';
import { honoAudit } from '@audit-trail/hono';
import { sqliteStore } from '@audit-trail/sqlite';
import { postgresStore } from '@audit-trail/postgres';
import { Hono } from 'hono';

interface Actor extends AuditActor {
  role: 'admin' | 'operator';
}

const auditor = createAuditor({ store: sqliteStore({ database: './audit.db' }) });
const audit = expressAudit({ auditor, identify: (): Actor | null => null });
const app = express();
app.use(audit.middleware);
app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), (_req, res) => {
  res.status(201).json({ id: 'rfd_1' });
});
app.use('/audit', audit.router({ authorize: (actor: Actor) => actor.role === 'admin' }));

const hono = new Hono();
const honoAuditing = honoAudit({ auditor: createAuditor({ store: memoryStore() }), identify: () => null });
hono.use(honoAuditing.middleware);
export const stores = [postgresStore, sqliteStore];
export { app, hono };
