import { z } from 'zod';

/** The outcomes of an action, as the client saw it. */
export const OUTCOMES = ['success', 'failure'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Status given to a request the client aborted before it was answered. */
export const CLIENT_CLOSED_REQUEST = 499;

/** A JSON value, as `details` may hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

const nullableText = z.string().nullable();

/** What was known of the HTTP request that performed the action; every field `null` when unknown. */
export const auditRequestSchema = z.object({
  method: nullableText,
  path: nullableText,
  route: nullableText,
  ip: nullableText,
  user_agent: nullableText,
  request_id: nullableText,
});

export type AuditRequest = z.infer<typeof auditRequestSchema>;

/** W3C trace context of the action: 32 and 16 lowercase hex digits. */
export const auditTraceSchema = z.object({
  trace_id: z.string().regex(/^[0-9a-f]{32}$/),
  span_id: z.string().regex(/^[0-9a-f]{16}$/),
});

export type AuditTrace = z.infer<typeof auditTraceSchema>;

/** The user who performed the action. */
export const auditUserSchema = z.object({
  id: z.string().min(1),
  email: z.string().nullable(),
});

export type AuditUser = z.infer<typeof auditUserSchema>;

/** One changed value: what it was and what it became; `null` stands for "absent or null". */
export interface AuditChange {
  from: JsonValue;
  to: JsonValue;
}

/**
 * What an action changed, as a record's `changes` holds it: one entry per
 * changed value, keyed by its dot-separated path (`url`, `retry.max_attempts`,
 * `events.2`).
 */
export type AuditChanges = { [path: string]: AuditChange };

/** One changed value: what it was and what it became (`null`: absent or null). */
export const auditChangeSchema = z.object({ from: z.json(), to: z.json() });

/** What an action changed: one entry per changed value, keyed by its dot-separated path. */
export const auditChangesSchema = z.record(z.string(), auditChangeSchema);

/**
 * An audit record as stored and as sent on the wire (README, "The record"). Stores
 * receive records that already passed this schema.
 */
export const auditRecordSchema = z.object({
  id: z.string().min(1),
  created: z.iso.datetime({ precision: 3 }),
  action_type: z.string().min(1),
  resource: z.string().min(1),
  resource_id: nullableText,
  user: auditUserSchema,
  account_id: nullableText,
  app_id: nullableText,
  outcome: z.enum(OUTCOMES),
  status_code: z.number().int().min(100).max(599).nullable(),
  request: auditRequestSchema,
  trace: auditTraceSchema.nullable(),
  details: z.record(z.string(), z.json()),
  changes: auditChangesSchema.nullable(),
});

/** An audit record; `A` narrows `action_type` to a catalog's action types. */
export type AuditRecord<A extends string = string> = Omit<z.infer<typeof auditRecordSchema>, 'action_type' | 'details' | 'changes'> & {
  action_type: A;
  details: { [key: string]: JsonValue };
  /** What the action changed, or `null` when not recorded. */
  changes: AuditChanges | null;
};

/** The request fields, all unknown. */
export const UNKNOWN_REQUEST: Readonly<AuditRequest> = Object.freeze({
  method: null,
  path: null,
  route: null,
  ip: null,
  user_agent: null,
  request_id: null,
});

/** `success` for 1xx–3xx, `failure` for 4xx and 5xx. */
export function outcomeOfStatus(status: number): Outcome {
  return status < 400 ? 'success' : 'failure';
}
