import type { AuditActor } from '@audit-trail/core';

/** A demo user: the audit actor plus the role the examples authorise on. */
export interface DemoUser extends AuditActor {
  user: { id: string; email: string };
  account_id: string;
  role: 'admin' | 'operator';
}

/** The demo tokens of the demo (README, "The demo"). */
export const DEMO_USERS: Readonly<Record<string, DemoUser>> = Object.freeze({
  'demo-alice': { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_acme', role: 'admin' },
  'demo-bob': { user: { id: 'usr_bob', email: 'bob@example.com' }, account_id: 'acc_acme', role: 'operator' },
  'demo-carol': { user: { id: 'usr_carol', email: 'carol@example.org' }, account_id: 'acc_globex', role: 'admin' },
});

/** The demo user of an `Authorization: Bearer <token>` header, or `null`. */
export function authenticate(authorization: string | null | undefined): DemoUser | null {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  const token = match?.[1];
  return token !== undefined && Object.hasOwn(DEMO_USERS, token) ? DEMO_USERS[token]! : null;
}

/** In the examples only admins may read the audit trail. */
export function mayReadAudit(actor: DemoUser): boolean {
  return actor.role === 'admin';
}

/**
 * Fail-closed in the examples: changing who may do what and replacing API
 * keys never complete without their audit record (the client gets a 503).
 */
export const REQUIRED_ACTIONS = ['replace_authentication_keys', 'update_user_permissions'] as const;

/**
 * The audit viewer's page and files (`/audit/ui`, `/audit/ui/…`) hold no data,
 * so the examples serve them to anyone; the page asks for a demo token and
 * sends it as `Authorization: Bearer …`. Every data endpoint still answers 401
 * without one.
 */
export function isAuditViewerPath(path: string): boolean {
  return path === '/audit/ui' || path.startsWith('/audit/ui/');
}

/** The examples' viewer: it asks for one of the demo tokens. */
export const AUDIT_VIEWER = Object.freeze({
  title: 'Audit log (demo)',
  askForToken: Object.freeze({
    label: 'Demo token',
    hint: 'demo-alice (admin), demo-carol (admin of another account) or demo-bob (an operator: refused).',
  }),
});
