import type { Span } from '@opentelemetry/api';
import type { ActionInput, Auditor, AuditActor } from './auditor.ts';
import type { ActionTypeOf, Catalog } from './catalog.ts';
import { AuditError, toError } from './errors.ts';
import { addAuditEvent } from './otel.ts';
import { CLIENT_CLOSED_REQUEST, outcomeOfStatus, type AuditChanges, type AuditTrace } from './record.ts';

/**
 * What an adapter keeps for one request while it runs: which action the route
 * performs and what the handler adds. Handlers reach it through the adapter
 * (`res.locals.audit` in Express, `c.get('audit')` in Hono).
 */
export interface AuditContext<A extends string = string> {
  /** The action this request performs; `null` leaves the request unaudited. */
  action: A | null;
  /** The resource acted on: a route parameter, or set by the handler (e.g. the id of a new payment). */
  resourceId: string | null;
  /** App-supplied context for the record; secrets are redacted before storage. */
  details: Record<string, unknown>;
  /** What the request changed, e.g. `diffChanges(before, after)`; `null` (the default) when not recorded. */
  changes: AuditChanges | null;
  /** The route template, when the adapter knows it. */
  route: string | null;
}

/** Creates an empty per-request context. */
export function createAuditContext<A extends string = string>(): AuditContext<A> {
  return { action: null, resourceId: null, details: {}, changes: null, route: null };
}

/** What the adapter saw of a finished request. */
export interface RequestFacts {
  method: string;
  /** The path, without the query string. */
  path: string;
  route: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  trace: AuditTrace | null;
  /**
   * The span that receives the action's `audit.record` event when it is
   * recorded (see `addAuditEvent`): the one active when the request entered
   * (`activeSpan()`). Leave it out when the adapter adds the event itself.
   */
  span?: Span | undefined;
  /** The status the client got; ignored when `aborted`. */
  status: number;
  /** The client went away before the response was complete (recorded as 499). */
  aborted: boolean;
  /** A handler threw or passed an error on. */
  error: boolean;
  /** When the response was sent or the client went away. */
  completed_at: Date;
}

/**
 * The action a finished request performed: the outcome is what the client
 * got — `failure` for 4xx/5xx, for an error, and for an abort (status 499).
 * `null` for requests without an action or without an authenticated actor:
 * those are not recorded.
 */
export function requestAction(context: AuditContext, actor: AuditActor | null | undefined, facts: RequestFacts): ActionInput | null {
  if (context.action === null || !actor) return null;
  const status = facts.aborted ? CLIENT_CLOSED_REQUEST : facts.status;
  const failed = facts.aborted || facts.error || outcomeOfStatus(status) === 'failure';
  return {
    action_type: context.action,
    resource_id: context.resourceId,
    user: actor.user,
    account_id: actor.account_id ?? null,
    app_id: actor.app_id ?? null,
    outcome: failed ? 'failure' : 'success',
    status_code: status,
    request: {
      method: facts.method,
      path: facts.path,
      route: context.route ?? facts.route,
      ip: facts.ip,
      user_agent: facts.user_agent,
      request_id: facts.request_id,
    },
    trace: facts.trace,
    details: context.details,
    changes: context.changes,
    completed_at: facts.completed_at,
  };
}

/**
 * Adds the action of a request to `facts.span` as an `audit.record` event,
 * without recording it: for adapters that must add the event before the
 * response ends the span. Nothing is built unless the span is recording.
 */
export function addRequestEvent<C extends Catalog>(
  auditor: Pick<Auditor<C>, 'catalog'>,
  context: AuditContext,
  actor: AuditActor | null | undefined,
  facts: RequestFacts,
): void {
  if (!facts.span?.isRecording()) return;
  const input = requestAction(context, actor, facts);
  if (input) addAuditEvent(facts.span, input, auditor.catalog[input.action_type]);
}

/**
 * Records a finished request (see `requestAction`), and adds it to
 * `facts.span` as an event when that span is recording. Never throws:
 * failures go to `onError`.
 */
export function recordRequest<C extends Catalog>(
  auditor: Auditor<C>,
  context: AuditContext,
  actor: AuditActor | null | undefined,
  facts: RequestFacts,
): void {
  const input = requestAction(context, actor, facts);
  if (!input) return;
  auditor.tryRecord(input as ActionInput<ActionTypeOf<C>>);
  addAuditEvent(facts.span, input, auditor.catalog[input.action_type]);
}

/**
 * Records a request of a fail-closed action before its response is released:
 * resolves `true` once the record is stored (or when there is nothing to
 * record), `false` when it could not be stored — the adapter then answers 503
 * instead. The failure has been reported through `onError`. Never rejects.
 * A stored action is added to `facts.span` as an event, as in `recordRequest`.
 */
export async function recordRequestDurably<C extends Catalog>(
  auditor: Auditor<C>,
  context: AuditContext,
  actor: AuditActor | null | undefined,
  facts: RequestFacts,
): Promise<boolean> {
  const input = requestAction(context, actor, facts);
  if (!input) return true;
  try {
    await auditor.recordDurable(input as ActionInput<ActionTypeOf<C>>);
    // Only once stored: otherwise the client gets a 503, which the adapter records (and reports) instead.
    addAuditEvent(facts.span, input, auditor.catalog[input.action_type]);
    return true;
  } catch (error) {
    // The auditor reports what it refuses or cannot store; bad input it only throws.
    if (!(error instanceof AuditError) || error.code === 'invalid_record') {
      auditor.reportError(error instanceof AuditError ? error : new AuditError('invalid_record', toError(error).message, { cause: error }));
    }
    return false;
  }
}
