import type { AuditActor, Auditor, PaymentsOsCatalog } from '@audit-trail/core';

/** A request header, as a harness's framework gives it. */
export type HeaderOf = (name: string) => string | null;

/** The app every adapter serves for the suite, configured alike. */
export interface ConformanceSetup {
  auditor: Auditor<PaymentsOsCatalog>;
  /** Who acted, from the request's headers (`x-user`). */
  identify: (header: HeaderOf) => AuditActor | null | Promise<AuditActor | null>;
  /** The request id hook, when the case sets one. */
  requestId?: (header: HeaderOf) => string | null;
}

/**
 * One adapter, serving on a loopback port the routes the cases drive:
 *
 * - `app.use` the adapter with `setup`, the route map `ROUTE_MAP`, `authorize: ADMINS_ONLY` for the router;
 * - then a check that answers 403 `{ "rejected": true }` when `x-reject` is set (it passes the
 *   request on otherwise), then a JSON body parser answering 400 for a body that is not JSON;
 * - `GET /payments/:payment_id` (named by the route map) and `GET /customers/:customer_id`
 *   (`audit.action('get_customer', { resourceId: 'customer_id' })`) answer 200 `{ id }`;
 * - `POST /customers` (`audit.action('create_customer')`) sets the resource id `cus_new` and answers 201;
 * - `POST /apps/:app_id/keys` (`audit.action('replace_authentication_keys', { resourceId: 'app_id' })`,
 *   fail-closed) answers 201 `{ replaced: true }` with header `x-handler: yes`;
 * - every handler honours `x-status` (answer with that status), `x-throw` (throw an Error; the app answers 500)
 *   `x-delay` (wait that many ms first) and `x-opt-out` (set the audit context's `action` to `null`: not recorded);
 * - the audit router is mounted at `/audit`.
 */
export interface AdapterHarness {
  name: string;
  start(setup: ConformanceSetup): Promise<{ url: string; close(): Promise<void> }>;
}

export const ROUTE_MAP = { 'GET /payments/:payment_id': { action: 'get_payment', resourceId: 'payment_id' } } as const;

export const ADMINS_ONLY = (actor: AuditActor & { role?: string }) => actor.role === 'admin';

/** What every handler does with the test's headers, before answering `body` with `status`. */
export async function behave(header: HeaderOf): Promise<number | null> {
  const delay = Number(header('x-delay') ?? 0);
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  if (header('x-throw')) throw new Error('handler failed');
  const status = header('x-status');
  return status ? Number(status) : null;
}
