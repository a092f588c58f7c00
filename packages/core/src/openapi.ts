import { z } from 'zod';
import type { Catalog } from './catalog.ts';
import { auditRecordSchema, OUTCOMES } from './record.ts';
import { auditQuerySchema, exportQuerySchema, MAX_STATS_BUCKETS, statsQuerySchema } from './query.ts';
import { STATS_INTERVALS } from './store.ts';

// The OpenAPI 3.1 document of the Retrieve Audit Data endpoints, generated
// from the zod schemas that validate their query strings and records (zod's
// JSON Schema output is draft 2020-12, the dialect of OpenAPI 3.1).

type JsonSchema = { [key: string]: unknown };

/** The schema of an error answer: `{ category, description, more_info }`. */
export const apiErrorBodySchema = z.object({
  category: z.enum(['api_request_error', 'api_authentication_error', 'api_authorization_error', 'api_error']),
  description: z.string(),
  more_info: z.string(),
});

/** The schema of `GET /audit/stats`'s answer. */
export const auditStatsSchema = z.object({
  interval: z.enum(STATS_INTERVALS),
  buckets: z
    .array(
      z.object({
        start: z.iso.datetime({ precision: 3 }),
        count: z.number().int().min(0),
        failures: z.number().int().min(0),
      }),
    )
    .max(MAX_STATS_BUCKETS),
});

/**
 * A schema of zod's as a component of the document: its `$defs` (the
 * recursive JSON of `details`, say) become components of their own, named
 * after it, and its references follow them there.
 */
function component(components: Record<string, JsonSchema>, name: string, schema: z.ZodType, io: 'input' | 'output' = 'output'): JsonSchema {
  const generated = z.toJSONSchema(schema, { io, unrepresentable: 'any', reused: 'inline' }) as JsonSchema;
  const defs = (generated.$defs ?? {}) as Record<string, JsonSchema>;
  delete generated.$defs;
  delete generated.$schema;
  const rename = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rename);
    if (value === null || typeof value !== 'object') return value;
    const out: JsonSchema = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] =
        key === '$ref' && typeof inner === 'string' && inner.startsWith('#/$defs/')
          ? `#/components/schemas/${name}_${inner.slice('#/$defs/'.length)}`
          : key === '$ref' && inner === '#'
            ? `#/components/schemas/${name}`
            : rename(inner);
    }
    return out;
  };
  for (const [def, body] of Object.entries(defs)) {
    const renamed = rename(body) as JsonSchema;
    delete renamed.$schema;
    components[`${name}_${def}`] = renamed;
  }
  const result = rename(generated) as JsonSchema;
  components[name] = result;
  return result;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** The query parameters of an endpoint, one per property of its zod schema. */
function parameters(schema: z.ZodType, actionTypes: readonly string[]): JsonSchema[] {
  const generated = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties: Record<string, JsonSchema> };
  return Object.entries(generated.properties).map(([name, property]) => {
    const { description, ...rest } = property;
    if (name === 'action_type') {
      return {
        name,
        in: 'query',
        required: false,
        description,
        style: 'form',
        explode: true,
        schema: { type: 'array', items: { type: 'string', enum: [...actionTypes] }, minItems: 1 },
      };
    }
    return { name, in: 'query', required: false, ...(description === undefined ? {} : { description }), schema: rest };
  });
}

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ref('Error') } },
});

const READ_ERRORS = {
  '400': errorResponse('A bad parameter: unknown, unknown action type, bad time, bad limit or cursor. `more_info` names it.'),
  '401': errorResponse('No or unknown credentials.'),
  '403': errorResponse('Authenticated but not allowed to read audit data.'),
  '503': errorResponse('The store cannot answer.'),
};

export interface AuditOpenApiOptions {
  /** Where the endpoints are mounted, e.g. `/audit` (`''` at the root). */
  base: string;
  /** The document's `info.title`; default `Retrieve Audit Data`. */
  title?: string;
  /** The document's `info.version`; default `1`. */
  version?: string;
}

/**
 * The OpenAPI 3.1 document of the endpoints as mounted at `base`, with the
 * catalog's action types as the enum of `action_type`.
 *
 * @example
 * const document = auditOpenApi(paymentsOsCatalog, { base: '/audit' });
 */
export function auditOpenApi(catalog: Catalog, options: AuditOpenApiOptions): JsonSchema {
  const base = options.base.replace(/\/+$/, '');
  const actionTypes = Object.keys(catalog);
  const components: Record<string, JsonSchema> = {};
  const record = component(components, 'AuditRecord', auditRecordSchema);
  const properties = record.properties as Record<string, JsonSchema>;
  properties.action_type = { type: 'string', enum: actionTypes };
  // A record's resource is the one its action type is created in.
  properties.resource = { type: 'string', enum: [...new Set(Object.values(catalog))].sort() };
  components.AuditPage = {
    type: 'object',
    properties: { data: { type: 'array', items: ref('AuditRecord') }, next_cursor: { type: ['string', 'null'] } },
    required: ['data', 'next_cursor'],
    additionalProperties: false,
  };
  component(components, 'AuditStats', auditStatsSchema);
  component(components, 'Error', apiErrorBodySchema);

  const read = (summary: string, description: string, extra: JsonSchema) => ({ get: { summary, description, ...extra } });
  const paths: Record<string, unknown> = {
    [base === '' ? '/' : base]: read('List audit records', 'Newest first by default; keyset paging with `cursor`.', {
      operationId: 'listAuditRecords',
      parameters: parameters(auditQuerySchema(catalog), actionTypes),
      responses: {
        '200': {
          description: 'One page of records.',
          headers: { Link: { description: '`<…>; rel="next"` when there is a next page.', schema: { type: 'string' } } },
          content: { 'application/json': { schema: ref('AuditPage') } },
        },
        ...READ_ERRORS,
      },
    }),
    [`${base}/export`]: read('Export audit records', 'Every matching record, streamed; audited as a read.', {
      operationId: 'exportAuditRecords',
      parameters: parameters(exportQuerySchema(catalog), actionTypes),
      responses: {
        '200': {
          description: 'CSV (formula cells defused) or NDJSON, as an attachment.',
          headers: { 'Content-Disposition': { schema: { type: 'string' } } },
          content: {
            'text/csv': { schema: { type: 'string' } },
            'application/x-ndjson': { schema: { type: 'string' } },
          },
        },
        ...READ_ERRORS,
      },
    }),
    [`${base}/stats`]: read('Activity over time', `Counts per time bucket, oldest first, empty buckets included; at most ${MAX_STATS_BUCKETS} buckets; default range the last 7 days.`, {
      operationId: 'auditStats',
      parameters: parameters(statsQuerySchema(catalog), actionTypes),
      responses: {
        '200': { description: 'The buckets.', content: { 'application/json': { schema: ref('AuditStats') } } },
        ...READ_ERRORS,
      },
    }),
    [`${base}/openapi.json`]: read('This document', 'The OpenAPI 3.1 document of these endpoints. Not audited.', {
      operationId: 'auditOpenApi',
      responses: {
        '200': { description: 'The document.', content: { 'application/json': { schema: { type: 'object' } } } },
        '401': READ_ERRORS['401'],
        '403': READ_ERRORS['403'],
      },
    }),
    [`${base}/ui`]: read('The viewer', 'An HTML page showing the caller’s records; it holds no data and is served to anyone.', {
      operationId: 'auditViewer',
      security: [],
      responses: { '200': { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } } },
    }),
    [`${base}/{id}`]: read('One audit record', 'A record of the caller’s account.', {
      operationId: 'getAuditRecord',
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', minLength: 1 } }],
      responses: {
        '200': { description: 'The record.', content: { 'application/json': { schema: ref('AuditRecord') } } },
        '404': errorResponse('No such record in the caller’s account.'),
        '401': READ_ERRORS['401'],
        '403': READ_ERRORS['403'],
        '503': READ_ERRORS['503'],
      },
    }),
  };

  return {
    openapi: '3.1.0',
    info: {
      title: options.title ?? 'Retrieve Audit Data',
      version: options.version ?? '1',
      description: `Who did what: the audit records of the caller's account. Outcomes: ${OUTCOMES.join(', ')}. Errors are JSON: { category, description, more_info }.`,
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas: components,
      securitySchemes: { app: { type: 'http', scheme: 'bearer', description: 'The app’s own authentication: cookies or a header it chooses.' } },
    },
    security: [{ app: [] }],
  };
}
