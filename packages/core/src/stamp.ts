import type { ActionInput } from './auditor.ts';
import type { Catalog } from './catalog.ts';
import { AuditError, toError } from './errors.ts';
import { newRecordId } from './ids.ts';
import { isChangesShape } from './changes.ts';
import { auditRecordSchema, outcomeOfStatus, UNKNOWN_REQUEST, type AuditChanges, type AuditRecord, type AuditRequest } from './record.ts';
import type { Redactor } from './redact.ts';

function nullableString(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : String(value);
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const isText = (value: unknown): value is string => typeof value === 'string';
const isTextOrNull = (value: unknown) => value === null || typeof value === 'string';

/**
 * A quick check that a stamped record passes `auditRecordSchema`: it only ever
 * says yes for records the schema accepts (the schema has the last word
 * whenever it says no). `id`, `created`, `action_type` and `resource` are made
 * by the auditor itself, and redacted details are plain JSON by construction.
 */
function plainlyValid(record: {
  resource_id: unknown;
  user: { id: unknown; email: unknown };
  account_id: unknown;
  app_id: unknown;
  outcome: unknown;
  status_code: unknown;
  request: Record<string, unknown>;
  trace: { trace_id: unknown; span_id: unknown } | null;
}): boolean {
  const { user, request, trace, status_code: status } = record;
  return (
    isText(user.id) &&
    user.id.length > 0 &&
    isTextOrNull(user.email) &&
    isTextOrNull(record.resource_id) &&
    isTextOrNull(record.account_id) &&
    isTextOrNull(record.app_id) &&
    (record.outcome === 'success' || record.outcome === 'failure') &&
    (status === null || (Number.isInteger(status) && (status as number) >= 100 && (status as number) <= 599)) &&
    (trace === null || (isText(trace.trace_id) && TRACE_ID.test(trace.trace_id) && isText(trace.span_id) && SPAN_ID.test(trace.span_id))) &&
    isTextOrNull(request.method) &&
    isTextOrNull(request.path) &&
    isTextOrNull(request.route) &&
    isTextOrNull(request.ip) &&
    isTextOrNull(request.user_agent) &&
    isTextOrNull(request.request_id)
  );
}

/**
 * Creates the function that turns an action into the record to store: id,
 * `created`, `resource` from the catalog, redaction, validation. Throws
 * `AuditError` `invalid_record` for bad input, whatever went wrong.
 */
export function createStamper(catalog: Catalog, redactor: Redactor | null): (input: ActionInput) => AuditRecord {
  /** Latest instant an id and `created` can hold: 9999-12-31T23:59:59.999Z. */
  const MAX_TIME = 253_402_300_799_999;
  // `created` of the last record: records completing in the same millisecond share it.
  let lastTime = Number.NaN;
  let lastCreated = '';
  const isoOf = (time: number, completed: Date): string => {
    if (time !== lastTime) {
      lastCreated = completed.toISOString();
      lastTime = time;
    }
    return lastCreated;
  };

  const stamp = (input: ActionInput): AuditRecord => {
    if (!input || typeof input !== 'object') throw new AuditError('invalid_record', 'an action must be an object');
    const action = input.action_type;
    if (typeof action !== 'string' || !Object.hasOwn(catalog, action)) {
      throw new AuditError('invalid_record', `unknown action_type "${String(action)}": it is not in the catalog`);
    }
    const completed = input.completed_at ?? new Date();
    // Checked before an id is made from it: a time outside 1970–9999 has no ISO form or id prefix.
    const time = completed instanceof Date ? completed.getTime() : Number.NaN;
    if (!(time >= 0 && time <= MAX_TIME)) {
      throw new AuditError('invalid_record', 'completed_at must be a valid Date between 1970 and 9999');
    }
    const changes = input.changes ?? null;
    if (changes !== null && !isChangesShape(changes)) {
      throw new AuditError('invalid_record', 'changes must be null or an object of { from, to } entries keyed by path');
    }
    const status = input.status_code ?? null;
    const outcome = input.outcome ?? (status === null ? 'success' : outcomeOfStatus(status));
    const req = input.request;
    const request: AuditRequest = req
      ? {
          method: nullableString(req.method),
          path: nullableString(req.path),
          route: nullableString(req.route),
          ip: nullableString(req.ip),
          user_agent: nullableString(req.user_agent),
          request_id: nullableString(req.request_id),
        }
      : { ...UNKNOWN_REQUEST };
    const stamped = {
      id: newRecordId(time),
      created: isoOf(time, completed),
      action_type: action,
      resource: catalog[action]!,
      resource_id: nullableString(input.resource_id),
      user: { id: input.user?.id, email: nullableString(input.user?.email) },
      account_id: nullableString(input.account_id),
      app_id: nullableString(input.app_id),
      outcome,
      status_code: status,
      request,
      // Only the contract's fields: whatever else a trace object carries is not stored.
      trace: input.trace ? { trace_id: input.trace.trace_id, span_id: input.trace.span_id } : null,
      details: redactor ? input.details : (structuredClone(input.details ?? {}) as AuditRecord['details']),
      changes: redactor ? changes : changes && (structuredClone(changes) as AuditChanges),
    };
    // One pass over every text field of the record schema, details and changes: no field is left out.
    const record = redactor ? redactor.record(stamped) : stamped;
    // z.json() lets a cycle through; unredacted details with one must fail here, not in a store or a response.
    if (!redactor) JSON.stringify([record.details, record.changes]);
    // The common case is checked by hand (zod costs more than the rest of a record); anything the
    // quick check does not vouch for goes through the schema, which decides and names the problem.
    if (redactor && plainlyValid(record)) return record as AuditRecord;
    const parsed = auditRecordSchema.safeParse(record);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new AuditError('invalid_record', `invalid ${issue.path.join('.') || 'record'}: ${issue.message}`, {
        cause: parsed.error,
      });
    }
    return record as AuditRecord;
  };

  /** `stamp`, with anything else it throws (a cycle or a function in unredacted details, …) as `invalid_record`. */
  const build = (input: ActionInput): AuditRecord => {
    try {
      return stamp(input);
    } catch (error) {
      if (error instanceof AuditError) throw error;
      throw new AuditError('invalid_record', `invalid action: ${toError(error).message}`, { cause: error });
    }
  };


  return build;
}
