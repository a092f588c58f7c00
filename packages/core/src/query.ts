import { z } from 'zod';
import type { Catalog } from './catalog.ts';
import { ApiError } from './errors.ts';
import { OUTCOMES } from './record.ts';
import { ORDERS, STATS_INTERVALS, type StoreFilter } from './store.ts';

/** The query parameters of `GET /audit` (README, "Retrieve Audit Data"). */
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

/** The filter parameters every read shares: `GET /audit`, `/export` and `/stats`. */
function filterShape<C extends Catalog>(catalog: C) {
  const actionTypes = Object.keys(catalog) as [string, ...string[]];
  return {
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
      .optional()
      .meta({ description: 'One or more catalog action types, repeated or comma-separated.' }),
    resource: text('resource').optional().meta({ description: 'The resource kind.' }),
    resource_id: text('resource_id').optional().meta({ description: 'The resource id.' }),
    user_id: text('user_id').optional().meta({ description: 'Who acted: the user id.' }),
    user_email: text('user_email').optional().meta({ description: "Who acted: the user's email." }),
    app_id: text('app_id').optional().meta({ description: 'The business unit.' }),
    outcome: z.enum(OUTCOMES, { error: 'outcome must be "success" or "failure"' }).optional(),
    from: instant('from').optional().meta({ description: 'ISO 8601 instant with a zone; inclusive.' }),
    to: instant('to').optional().meta({ description: 'ISO 8601 instant with a zone; exclusive.' }),
  };
}

const order = () =>
  z.enum(ORDERS, { error: 'order must be "desc" or "asc"' }).default('desc').meta({ description: '`desc`: newest first.' });

const strict = { error: (issue: { code: string; keys?: string[] }) => (issue.code === 'unrecognized_keys' ? `unknown parameter "${issue.keys![0]}"` : undefined) };

/**
 * The zod schema of the endpoint's query string, for a catalog. Input is an
 * object of strings (`action_type` an array of its repeated values); output
 * is the validated, normalised query. The same schema types the handler.
 */
export function auditQuerySchema<C extends Catalog>(catalog: C) {
  return z.strictObject(
    {
      ...filterShape(catalog),
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
        .default(DEFAULT_LIMIT)
        .meta({ description: `Records per page, 1–${MAX_LIMIT}; default ${DEFAULT_LIMIT}.` }),
      cursor: z
        .string()
        .min(1, { error: 'cursor must not be empty' })
        .max(512, { error: 'cursor is malformed' })
        .optional()
        .meta({ description: 'Opaque; the `next_cursor` of the previous page.' }),
      order: order(),
    },
    strict,
  );
}

/** The validated query of `GET /audit`. */
export type AuditQuery = z.output<ReturnType<typeof auditQuerySchema>>;

/** Formats of `GET /audit/export`. */
export const EXPORT_FORMATS = ['csv', 'ndjson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The zod schema of `GET /audit/export`'s query string: the filters, an order and a format. */
export function exportQuerySchema<C extends Catalog>(catalog: C) {
  return z.strictObject(
    {
      ...filterShape(catalog),
      order: order(),
      format: z
        .enum(EXPORT_FORMATS, { error: 'format must be "csv" or "ndjson"' })
        .default('csv')
        .meta({ description: '`csv` (formula cells defused) or `ndjson`.' }),
    },
    strict,
  );
}

/** The validated query of `GET /audit/export`. */
export type ExportQuery = z.output<ReturnType<typeof exportQuerySchema>>;

/** The most buckets `GET /audit/stats` answers with. */
export const MAX_STATS_BUCKETS = 1000;

/** The zod schema of `GET /audit/stats`'s query string: the filters and an interval. */
export function statsQuerySchema<C extends Catalog>(catalog: C) {
  return z.strictObject(
    {
      ...filterShape(catalog),
      interval: z
        .enum(STATS_INTERVALS, { error: 'interval must be "hour" or "day"' })
        .default('hour')
        .meta({ description: 'Bucket size; default `hour`.' }),
    },
    strict,
  );
}

/** The validated query of `GET /audit/stats`. */
export type StatsQuery = z.output<ReturnType<typeof statsQuerySchema>>;

/** Every query parameter of the read endpoints. */
const KNOWN_PARAMETERS: ReadonlySet<string> = new Set([...AUDIT_QUERY_PARAMETERS, 'format', 'interval']);

type SchemaOf = (catalog: Catalog) => z.ZodType;
const schemas = new Map<SchemaOf, WeakMap<Catalog, z.ZodType>>();

function schemaFor<T extends SchemaOf>(make: T, catalog: Catalog): ReturnType<T> {
  let byCatalog = schemas.get(make);
  if (!byCatalog) schemas.set(make, (byCatalog = new WeakMap()));
  let schema = byCatalog.get(catalog);
  if (!schema) byCatalog.set(catalog, (schema = make(catalog)));
  return schema as ReturnType<T>;
}

function parseWith<S extends z.ZodType>(schema: S, params: URLSearchParams): z.output<S> {
  // No prototype: `?__proto__=x` must be an own key, and so an unknown parameter, not a prototype write.
  const input: Record<string, string | string[]> = Object.create(null);
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    if (key === 'action_type') input[key] = values;
    else if (values.length > 1 && KNOWN_PARAMETERS.has(key)) {
      throw new ApiError(400, 'api_request_error', `${key} may be given only once`, key);
    } else input[key] = values[0]!;
  }
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.code === 'unrecognized_keys' ? issue.keys[0]! : String(issue.path[0] ?? 'query');
  throw new ApiError(400, 'api_request_error', issue.message, param);
}

/**
 * Parses a query string into an `AuditQuery`, or throws an `ApiError` (400)
 * whose `moreInfo` names the offending parameter.
 *
 * @example
 * parseAuditQuery(new URLSearchParams('action_type=refund,void&limit=10'), paymentsOsCatalog);
 */
export function parseAuditQuery<C extends Catalog>(params: URLSearchParams, catalog: C): AuditQuery {
  return parseWith(schemaFor(auditQuerySchema, catalog), params);
}

/** Parses the query string of `GET /audit/export`, or throws an `ApiError` (400). */
export function parseExportQuery<C extends Catalog>(params: URLSearchParams, catalog: C): ExportQuery {
  return parseWith(schemaFor(exportQuerySchema, catalog), params);
}

/** Parses the query string of `GET /audit/stats`, or throws an `ApiError` (400). */
export function parseStatsQuery<C extends Catalog>(params: URLSearchParams, catalog: C): StatsQuery {
  return parseWith(schemaFor(statsQuerySchema, catalog), params);
}

/** The store filter of a validated query. */
export function filterOfQuery(query: Omit<AuditQuery, 'limit' | 'cursor' | 'order'>): StoreFilter {
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
