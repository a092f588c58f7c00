import { z } from 'zod';
import type { Catalog } from './catalog.ts';
import { ApiError } from './errors.ts';
import { OUTCOMES } from './record.ts';
import { ORDERS, type StoreFilter } from './store.ts';

/** The query parameters of `GET /audit` (CONTRACT §4). */
export const AUDIT_QUERY_PARAMETERS = [
  'action_type',
  'resource',
  'resource_id',
  'user_id',
  'user_email',
  'app_id',
  'outcome',
  'from',
  'to',
  'limit',
  'cursor',
  'order',
] as const;

export type AuditQueryParameter = (typeof AUDIT_QUERY_PARAMETERS)[number];

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

const text = (name: string) =>
  z
    .string({ error: `${name} must be text` })
    .min(1, { error: `${name} must not be empty` })
    .max(512, { error: `${name} is too long (512 characters at most)` });

const instant = (name: string) =>
  z
    .string()
    .pipe(
      z.iso.datetime({
        offset: true,
        error: `${name} must be an ISO 8601 instant with a zone, e.g. 2026-11-27T10:00:00Z or 2026-11-27T11:00:00+01:00`,
      }),
    )
    .transform((value, ctx) => {
      const date = new Date(value);
      if (Number.isNaN(date.getTime())) {
        ctx.addIssue({ code: 'custom', message: `${name} is not a real instant` });
        return z.NEVER;
      }
      return date.toISOString();
    });

/**
 * The zod schema of the endpoint's query string, for a catalog. Input is an
 * object of strings (`action_type` an array of its repeated values); output
 * is the validated, normalised query. The same schema types the handler.
 */
export function auditQuerySchema<C extends Catalog>(catalog: C) {
  const actionTypes = Object.keys(catalog) as [string, ...string[]];
  return z.strictObject(
    {
      action_type: z
        .array(z.string())
        .transform((values) =>
          values
            .flatMap((v) => v.split(','))
            .map((v) => v.trim())
            .filter((v) => v.length > 0),
        )
        .pipe(
          z
            .array(z.enum(actionTypes, { error: (issue) => `unknown action_type "${String(issue.input)}"` }))
            .min(1, { error: 'action_type must name at least one action type' }),
        )
        .optional(),
      resource: text('resource').optional(),
      resource_id: text('resource_id').optional(),
      user_id: text('user_id').optional(),
      user_email: text('user_email').optional(),
      app_id: text('app_id').optional(),
      outcome: z.enum(OUTCOMES, { error: 'outcome must be "success" or "failure"' }).optional(),
      from: instant('from').optional(),
      to: instant('to').optional(),
      limit: z
        .string()
        .regex(/^\d{1,4}$/, { error: `limit must be a whole number from 1 to ${MAX_LIMIT}` })
        .transform(Number)
        .pipe(
          z
            .number()
            .int()
            .min(1, { error: `limit must be a whole number from 1 to ${MAX_LIMIT}` })
            .max(MAX_LIMIT, { error: `limit must be a whole number from 1 to ${MAX_LIMIT}` }),
        )
        .default(DEFAULT_LIMIT),
      cursor: z.string().min(1, { error: 'cursor must not be empty' }).max(512, { error: 'cursor is malformed' }).optional(),
      order: z.enum(ORDERS, { error: 'order must be "desc" or "asc"' }).default('desc'),
    },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown parameter "${issue.keys[0]}"` : undefined) },
  );
}

/** The validated query of `GET /audit`. */
export type AuditQuery = z.output<ReturnType<typeof auditQuerySchema>>;

const schemas = new WeakMap<Catalog, ReturnType<typeof auditQuerySchema>>();

/**
 * Parses a query string into an `AuditQuery`, or throws an `ApiError` (400)
 * whose `moreInfo` names the offending parameter.
 *
 * @example
 * parseAuditQuery(new URLSearchParams('action_type=refund,void&limit=10'), paymentsOsCatalog);
 */
export function parseAuditQuery<C extends Catalog>(params: URLSearchParams, catalog: C): AuditQuery {
  // No prototype: `?__proto__=x` must be an own key, and so an unknown parameter, not a prototype write.
  const input: Record<string, string | string[]> = Object.create(null);
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    if (key === 'action_type') input[key] = values;
    else if (values.length > 1 && (AUDIT_QUERY_PARAMETERS as readonly string[]).includes(key)) {
      throw new ApiError(400, 'api_request_error', `${key} may be given only once`, key);
    } else input[key] = values[0]!;
  }
  let schema = schemas.get(catalog);
  if (!schema) schemas.set(catalog, (schema = auditQuerySchema(catalog)));
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.code === 'unrecognized_keys' ? issue.keys[0]! : String(issue.path[0] ?? 'query');
  throw new ApiError(400, 'api_request_error', issue.message, param);
}

/** The store filter of a validated query. */
export function filterOfQuery(query: AuditQuery): StoreFilter {
  const filter: StoreFilter = {};
  if (query.action_type) filter.actionTypes = [...new Set(query.action_type)];
  if (query.resource !== undefined) filter.resource = query.resource;
  if (query.resource_id !== undefined) filter.resourceId = query.resource_id;
  if (query.user_id !== undefined) filter.userId = query.user_id;
  if (query.user_email !== undefined) filter.userEmail = query.user_email;
  if (query.app_id !== undefined) filter.appId = query.app_id;
  if (query.outcome !== undefined) filter.outcome = query.outcome;
  if (query.from !== undefined) filter.from = query.from;
  if (query.to !== undefined) filter.to = query.to;
  return filter;
}
