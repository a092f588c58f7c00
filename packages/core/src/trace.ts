import type { AuditTrace } from './record.ts';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Parses a W3C `traceparent` header (Trace Context level 1): version `ff` is
 * invalid, version `00` has exactly four fields, later versions may append
 * fields; ids are lowercase hex and not all zero. Returns the caller's trace
 * and span ids, or `null` for a missing or malformed header.
 */
export function parseTraceparent(header: string | null | undefined): AuditTrace | null {
  if (!header) return null;
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return null;
  const [, version, traceId, spanId, , rest] = match;
  if (version === 'ff') return null;
  if (version === '00' && rest !== undefined) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { trace_id: traceId!, span_id: spanId! };
}
