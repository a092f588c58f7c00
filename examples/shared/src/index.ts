export { AUDIT_VIEWER, authenticate, DEMO_USERS, isAuditViewerPath, mayReadAudit, REQUIRED_ACTIONS, type DemoUser } from './demo-auth.ts';
export { DemoDomain, DemoError, newPaymentSchema, objectBody, type Payment, type Update } from './domain.ts';
export { DEFAULT_AUDIT_STORE, openStore } from './store.ts';
export { runExample, SHUTDOWN_DEADLINE_MS } from './server.ts';
export { PAYMENT_OPERATIONS, PAYMENT_ROUTES } from './routes.ts';
