import {
  defaultTextMapGetter,
  isSpanContextValid,
  metrics,
  propagation,
  ROOT_CONTEXT,
  trace,
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type Span,
  type SpanContext,
  type TextMapGetter,
} from '@opentelemetry/api';
import type { ActionInput } from './auditor.ts';
import { outcomeOfStatus, type AuditTrace } from './record.ts';
import { parseTraceparent } from './trace.ts';

// OpenTelemetry through its API only: with no SDK registered every call below is the API's
// no-op, and nothing here needs a Node built-in or async_hooks (the app's context manager,
// if any, is the SDK's business).

/**
 * The headers of an incoming request: a Web `Headers` (Fetch, Hono, Workers)
 * or Node's `IncomingHttpHeaders` (`req.headers` in Express: lowercase names).
 */
export type HeaderCarrier = Headers | Readonly<Record<string, string | string[] | undefined>>;

const webHeadersGetter: TextMapGetter<Headers> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  keys: (carrier) => [...carrier.keys()],
};

function isWebHeaders(headers: HeaderCarrier): headers is Headers {
  return typeof (headers as Headers).get === 'function';
}

function header(headers: HeaderCarrier, name: string): string | null {
  if (isWebHeaders(headers)) return headers.get(name);
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

/** A span context's ids as the record stores them (lowercase hex), or `null` when it is invalid. */
function idsOf(spanContext: SpanContext | undefined): AuditTrace | null {
  if (!spanContext || !isSpanContextValid(spanContext)) return null;
  // The API accepts uppercase hex; the record schema does not.
  return { trace_id: spanContext.traceId.toLowerCase(), span_id: spanContext.spanId.toLowerCase() };
}

/**
 * The span active right now, or `undefined` when there is none — always so
 * without an SDK and a context manager. Adapters call it when a request
 * enters the app (its server span is active then; on Node the response's
 * `finish` listeners run outside the request's context).
 */
export function activeSpan(): Span | undefined {
  return trace.getActiveSpan();
}

/**
 * The trace of an incoming request, for the record's `trace` (README, "The record"):
 *
 * 1. the ids of `span`, the span active when the request entered the app,
 *    when its context is valid (an SDK with a context manager: the server span);
 * 2. otherwise the caller's trace as the globally registered propagator
 *    extracts it from the headers (`propagation.extract`; none is registered
 *    without an SDK);
 * 3. otherwise the W3C `traceparent` header, parsed and validated here
 *    (`parseTraceparent`).
 *
 * In cases 2 and 3 `span_id` is the caller's span id. `null` when there is no
 * valid trace at all.
 *
 * @example
 * const span = activeSpan(); // when the request enters
 * const trace = requestTrace(request.headers, span); // when it is recorded
 */
export function requestTrace(headers: HeaderCarrier, span?: Span): AuditTrace | null {
  const own = idsOf(span?.spanContext());
  if (own) return own;
  let propagated: AuditTrace | null = null;
  try {
    // Without a registered propagator (no SDK) there is nothing to extract: skip the work.
    if (propagation.fields().length === 0) return parseTraceparent(header(headers, 'traceparent'));
    const extracted = isWebHeaders(headers)
      ? propagation.extract(ROOT_CONTEXT, headers, webHeadersGetter)
      : propagation.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    propagated = idsOf(trace.getSpanContext(extracted));
  } catch {
    // The app's propagator failed on these headers: the trail must not fail the request for it.
  }
  return propagated ?? parseTraceparent(header(headers, 'traceparent'));
}

/** Name of the span event that describes an audited action. */
export const AUDIT_EVENT_NAME = 'audit.record';

/**
 * The attributes of an action's span event. OpenTelemetry semantic
 * conventions where they define the meaning (`http.route`,
 * `http.response.status_code`, `enduser.id` and its successor `user.id`);
 * the audit trail's own fields under `audit.*`. Unknown values are left out.
 */
export function auditEventAttributes(input: ActionInput, resource: string | undefined): Attributes {
  const status = input.status_code ?? null;
  const attributes: Attributes = {
    'audit.action_type': input.action_type,
    'audit.outcome': input.outcome ?? (status === null ? 'success' : outcomeOfStatus(status)),
  };
  if (resource !== undefined) attributes['audit.resource'] = resource;
  if (input.resource_id != null) attributes['audit.resource_id'] = String(input.resource_id);
  const userId = input.user?.id;
  if (userId != null) {
    attributes['enduser.id'] = userId;
    attributes['user.id'] = userId;
  }
  if (input.request?.route != null) attributes['http.route'] = input.request.route;
  if (status !== null) attributes['http.response.status_code'] = status;
  return attributes;
}

/**
 * Adds an action to a span as an `audit.record` event (see
 * `auditEventAttributes`). Does nothing — and builds nothing — unless the span
 * is recording: with no SDK, for a sampled-out request, and once the span has
 * ended.
 *
 * @example
 * addAuditEvent(span, { action_type: 'refund', user: { id: 'usr_alice' }, status_code: 201 }, 'payment');
 */
export function addAuditEvent(span: Span | undefined, input: ActionInput, resource: string | undefined): void {
  if (!span?.isRecording()) return;
  span.addEvent(AUDIT_EVENT_NAME, auditEventAttributes(input, resource));
}

/** Name of the meter the auditor's instruments belong to. */
export const AUDIT_METER_NAME = '@audit-trail/core';

/** Names of the auditor's metric instruments. */
export const AUDIT_METRICS = Object.freeze({
  /** Counter, `{record}`: records the store has taken. */
  written: 'audit.records.written',
  /** Counter, `{record}`: records refused before reaching the store; `error.type` is `queue_full` or `closed`. */
  dropped: 'audit.records.dropped',
  /** Counter, `{record}`: records the store failed to take after every retry; `error.type` is `store_failed`. */
  failed: 'audit.records.failed',
  /** Histogram, `s`: one call of the store's `append` (each retry is one); `error.type` is `store_failed` when it threw. */
  writeDuration: 'audit.store.write.duration',
});

/** Why records did not reach the store, as the `error.type` of the metrics (frozen: no allocation per use). */
const ERROR_TYPE = Object.freeze({
  queue_full: Object.freeze({ 'error.type': 'queue_full' }),
  closed: Object.freeze({ 'error.type': 'closed' }),
  store_failed: Object.freeze({ 'error.type': 'store_failed' }),
});

/** Buckets for write durations in seconds (the semantic conventions' advice for HTTP durations). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The instruments of one auditor's write pipeline. */
export interface AuditorMetrics {
  written(records: number): void;
  dropped(records: number, reason: 'queue_full' | 'closed'): void;
  failed(records: number): void;
  /** One call of the store's `append` took `seconds`, and threw or not. */
  writeDuration(seconds: number, failed: boolean): void;
}

/**
 * Creates the auditor's instruments once, on the meter of the globally
 * registered MeterProvider (the API's no-op meter when there is none: then
 * every call is a no-op). Register the SDK before creating the auditor: the
 * metrics API hands out no proxy that would pick up a later registration.
 */
export function auditorMetrics(meter: Meter = metrics.getMeter(AUDIT_METER_NAME)): AuditorMetrics {
  const written: Counter = meter.createCounter(AUDIT_METRICS.written, {
    description: 'Audit records the store has taken.',
    unit: '{record}',
  });
  const dropped: Counter = meter.createCounter(AUDIT_METRICS.dropped, {
    description: 'Audit records refused before reaching the store (queue full, auditor closed).',
    unit: '{record}',
  });
  const failed: Counter = meter.createCounter(AUDIT_METRICS.failed, {
    description: 'Audit records the store failed to take after every retry.',
    unit: '{record}',
  });
  const duration: Histogram = meter.createHistogram(AUDIT_METRICS.writeDuration, {
    description: 'Duration of one append of a batch of audit records to the store.',
    unit: 's',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  return {
    written: (records) => written.add(records),
    dropped: (records, reason) => dropped.add(records, ERROR_TYPE[reason]),
    failed: (records) => failed.add(records, ERROR_TYPE.store_failed),
    writeDuration: (seconds, didFail) => duration.record(seconds, didFail ? ERROR_TYPE.store_failed : undefined),
  };
}
