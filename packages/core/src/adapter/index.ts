/**
 * The adapter kit: everything a framework adapter needs that is not its
 * framework's lifecycle. `@audit-trail/express`, `@audit-trail/hono` and
 * `@audit-trail/fastify` are written against it; so can be an adapter for
 * another framework.
 *
 * @module
 */
export { andThen, callHook, isPromiseLike, runHook, type MaybePromise } from './hooks.ts';
export { headerValue, joinRoute, pathOfUrl, templateParam, trimTrailingSlash, type HeaderSource } from './paths.ts';
export {
  JSON_CONTENT_TYPE,
  REQUIRED_RECORD_UNAVAILABLE,
  REQUIRED_RECORD_UNAVAILABLE_BODY,
  requiredRecordUnavailable,
} from './unavailable.ts';
export {
  checkAdapterOptions,
  createAdapterKit,
  tagAction,
  taggedAction,
  type ActionDeclaration,
  type ActionSite,
  type AdapterHooks,
  type AdapterKit,
  type AdapterKitOptions,
  type AuditReadHandler,
  type ResourceIdSource,
} from './kit.ts';
export {
  addRequestEvent,
  createAuditContext,
  recordRequest,
  recordRequestDurably,
  requestAction,
  type AuditContext,
  type RequestFacts,
} from '../http.ts';
export { activeSpan, requestTrace, type HeaderCarrier } from '../otel.ts';
export { CLIENT_CLOSED_REQUEST } from '../record.ts';
