import type { Auditor, AuditActor } from './auditor.ts';
import { RETRIEVE_AUDIT_DATA, type Catalog } from './catalog.ts';
import { createCursorCodec, type CursorCodec } from './cursor.ts';
import { ApiError, apiErrorResponse, AuditError, toError } from './errors.ts';
import { CSV_HEADER, csvLine } from './csv.ts';
import type { AuditRecord, AuditTrace } from './record.ts';
import { filterOfQuery, MAX_LIMIT, parseAuditQuery, parseExportQuery, parseStatsQuery, type AuditQuery, type ExportFormat } from './query.ts';
import { activeSpan, addAuditEvent, requestTrace } from './otel.ts';
import { auditOpenApi } from './openapi.ts';
import { auditStats } from './stats.ts';
import type { KeysetPosition, Order, StoreFilter } from './store.ts';
import { viewerAsset, viewerPage, type AuditViewerOptions } from './viewer/page.ts';

export interface AuditApiOptions<C extends Catalog, A extends AuditActor = AuditActor> {
  /** The auditor whose store is read, and which records every read as `retrieve_audit_data`. */
  auditor: Auditor<C>;
  /**
   * Who may read audit data at all: the app's decision. Called for every
   * authenticated caller; `false` (or a throw) answers 403.
   *
   * @example
   * authorize: (actor) => actor.role === 'admin'
   */
  authorize: (actor: A, request: Request) => boolean | Promise<boolean>;
  /** Secret that signs page cursors; give all instances of an app the same one (≥ 16 bytes). */
  cursorSecret?: string | Uint8Array;
  /**
   * The viewer at `GET <mount>/ui`: its title, how it authenticates, a
   * stylesheet that themes it. `false` serves no viewer (404).
   *
   * @example
   * viewer: { title: 'Activity', askForToken: true }
   */
  viewer?: AuditViewerOptions | false;
}

/** The endpoints under the mount, as `matchAuditEndpoint` tells them apart. */
export type AuditEndpoint =
  | { kind: 'list' }
  | { kind: 'record'; id: string }
  | { kind: 'export' }
  | { kind: 'stats' }
  | { kind: 'openapi' }
  /** The viewer's page (`asset` `''`) or one of its files. */
  | { kind: 'ui'; asset: string };

/**
 * Which endpoint a path under the mount names (`/`, `/export`, `/stats`,
 * `/openapi.json`, `/ui`, `/ui/<file>`, `/<id>`), or `null` for none.
 *
 * @example
 * matchAuditEndpoint('/stats'); // { kind: 'stats' }
 */
export function matchAuditEndpoint(path: string): AuditEndpoint | null {
  const segments = path.split('/').filter(Boolean);
  if (segments[0] === 'ui' && segments.length <= 2) return { kind: 'ui', asset: segments[1] ?? '' };
  if (segments.length > 1) return null;
  const first = segments[0];
  if (first === undefined) return { kind: 'list' };
  if (first === 'export') return { kind: 'export' };
  if (first === 'stats') return { kind: 'stats' };
  if (first === 'openapi.json') return { kind: 'openapi' };
  return { kind: 'record', id: decodeSegment(first) };
}

/** The route template of an endpoint under its mount, for the audit record of a read. */
export function endpointRoute(endpoint: AuditEndpoint): string {
  switch (endpoint.kind) {
    case 'list':
      return '/';
    case 'record':
      return '/:id';
    case 'openapi':
      return '/openapi.json';
    case 'ui':
      return '/ui';
    default:
      return `/${endpoint.kind}`;
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** What the framework knows about a request to the endpoint. */
export interface AuditApiContext<A extends AuditActor = AuditActor> {
  /** The authenticated caller, or `null` (answered 401). */
  actor: A | null;
  /** The record id of `GET /audit/:id`; absent for the list. Ignored when `endpoint` is given. */
  id?: string;
  /** The endpoint the request is for (see `matchAuditEndpoint`); without it, the list or `id`'s record. */
  endpoint?: AuditEndpoint;
  /** Where the endpoints are mounted (`/audit`), for the OpenAPI document; derived from the URL when absent. */
  base?: string;
  /** The route template, for the audit record of the read. */
  route?: string | null;
  ip?: string | null;
  request_id?: string | null;
  trace?: AuditTrace | null;
}

/** The Retrieve Audit Data endpoint as a Web `Request` → `Response` handler. */
export interface AuditApi<A extends AuditActor = AuditActor> {
  /** The endpoint of `context.endpoint`; else `GET /audit` when `context.id` is absent, `GET /audit/:id` when present. */
  handle(request: Request, context: AuditApiContext<A>): Promise<Response>;
}

/** The page envelope of `GET /audit`. */
export interface AuditPage<R = AuditRecord> {
  data: R[];
  next_cursor: string | null;
}

function json(status: number, body: unknown, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

const unauthenticated = new ApiError(
  401,
  'api_authentication_error',
  'No valid credentials were given; send an Authorization header with a known token.',
  'authorization',
);

/**
 * Creates the Retrieve Audit Data handler. Framework routers (Express, Hono)
 * are thin wrappers that route `GET /` and `GET /:id` to it.
 *
 * Every call by an authenticated caller — allowed, refused, or failed — is
 * itself recorded as `retrieve_audit_data` (PCI DSS 10.2.1.3). A caller only
 * ever sees records of its own `account_id`.
 *
 * @example
 * const api = createAuditApi({ auditor, authorize: (actor) => actor.role === 'admin' });
 * const response = await api.handle(request, { actor });
 */
export function createAuditApi<C extends Catalog, A extends AuditActor = AuditActor>(
  options: AuditApiOptions<C, A>,
): AuditApi<A> {
  if (!options?.auditor || typeof options.auditor.record !== 'function') {
    throw new TypeError('createAuditApi: auditor is required');
  }
  if (typeof options.authorize !== 'function') {
    throw new TypeError('createAuditApi: authorize is required: it decides who may read audit data');
  }
  const { auditor, authorize } = options;
  const cursors: CursorCodec = createCursorCodec(options.cursorSecret);
  const documents = new Map<string, string>();
  const viewer = options.viewer === false ? null : Object.freeze({ ...options.viewer });

  const recordRead = (request: Request, url: URL, endpoint: AuditEndpoint, context: AuditApiContext<A>, actor: A, status: number): void => {
    const details: Record<string, unknown> = {};
    if (endpoint.kind !== 'record' && url.search) details.parameters = Object.fromEntries(url.searchParams);
    // The router runs in the request's context: its server span, when an SDK records one.
    const span = activeSpan();
    const input = {
      action_type: RETRIEVE_AUDIT_DATA,
      resource_id: endpoint.kind === 'record' ? endpoint.id : null,
      user: actor.user,
      account_id: actor.account_id ?? null,
      app_id: actor.app_id ?? null,
      status_code: status,
      request: {
        method: request.method,
        path: url.pathname,
        route: context.route ?? null,
        ip: context.ip ?? null,
        user_agent: request.headers.get('user-agent'),
        request_id: context.request_id ?? request.headers.get('x-request-id'),
      },
      trace: context.trace !== undefined ? context.trace : requestTrace(request.headers, span),
      details,
    } as Parameters<Auditor<C>['tryRecord']>[0];
    auditor.tryRecord(input);
    addAuditEvent(span, input, (auditor.catalog as Catalog)[RETRIEVE_AUDIT_DATA]);
  };

  const list = async (url: URL, accountId: string): Promise<Response> => {
    const query: AuditQuery = parseAuditQuery(url.searchParams, auditor.catalog);
    let after = null;
    if (query.cursor !== undefined) {
      after = await cursors.open(accountId, query.cursor);
      if (!after) {
        throw new ApiError(400, 'api_request_error', 'cursor is not a cursor this endpoint issued for this account', 'cursor');
      }
    }
    const rows = await readStore(() =>
      auditor.store.query({ accountId, filter: filterOfQuery(query), order: query.order, limit: query.limit + 1, after }),
    );
    const data = rows.slice(0, query.limit);
    let next_cursor: string | null = null;
    const headers: Record<string, string> = {};
    if (rows.length > query.limit) {
      const last = data[data.length - 1]!;
      next_cursor = await cursors.seal(accountId, last);
      const next = new URL(url);
      next.searchParams.set('cursor', next_cursor);
      headers.link = `<${next.toString()}>; rel="next"`;
    }
    const page: AuditPage = { data, next_cursor };
    return json(200, page, headers);
  };

  const getOne = async (id: string, accountId: string): Promise<Response> => {
    const record = id.length > 256 ? null : await readStore(() => auditor.store.get(accountId, id));
    if (!record) throw new ApiError(404, 'api_request_error', `no audit record with id "${id}"`, 'id');
    return json(200, record);
  };

  const exportRecords = async (request: Request, url: URL, accountId: string): Promise<Response> => {
    const query = parseExportQuery(url.searchParams, auditor.catalog);
    const filter = filterOfQuery(query);
    // The first page is read before answering, so that a store that cannot answer is a 503, not a broken download.
    const first = await readStore(() => auditor.store.query({ accountId, filter, order: query.order, limit: MAX_LIMIT }));
    const name = `audit-${new Date().toISOString().slice(0, 10)}.${query.format === 'csv' ? 'csv' : 'ndjson'}`;
    const headers = {
      'content-type': query.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="${name}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    };
    if (request.method === 'HEAD') return new Response(null, { status: 200, headers });
    return new Response(exportStream(first, { accountId, filter, order: query.order, format: query.format }), { status: 200, headers });
  };

  /** Pulls one page of the store per chunk the client reads: memory stays one page, whatever the count. */
  const exportStream = (
    first: AuditRecord[],
    at: { accountId: string; filter: StoreFilter; order: Order; format: ExportFormat },
  ): ReadableStream<Uint8Array> => {
    const encoder = new TextEncoder();
    const line = at.format === 'csv' ? csvLine : (record: AuditRecord) => `${JSON.stringify(record)}\n`;
    let page: AuditRecord[] | null = first;
    let header = at.format === 'csv';
    let after: KeysetPosition | null = null;
    let done = false;
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          try {
            if (page === null) {
              if (done) return controller.close();
              page = await auditor.store.query({ accountId: at.accountId, filter: at.filter, order: at.order, limit: MAX_LIMIT, after });
            }
            let text = header ? CSV_HEADER : '';
            header = false;
            for (const record of page) text += line(record);
            if (page.length < MAX_LIMIT) done = true;
            else {
              const last = page[page.length - 1]!;
              after = { created: last.created, id: last.id };
            }
            page = null;
            if (text) controller.enqueue(encoder.encode(text));
            if (done) controller.close();
          } catch (cause) {
            auditor.reportError(new AuditError('store_failed', `an export stopped: the store could not answer: ${toError(cause).message}`, { cause }));
            controller.error(cause);
          }
        },
      },
      { highWaterMark: 0 },
    );
  };

  const stats = async (url: URL, accountId: string): Promise<Response> => {
    const query = parseStatsQuery(url.searchParams, auditor.catalog);
    const answer = await readStore(() => auditStats(auditor.store, accountId, filterOfQuery(query), query.interval));
    return json(200, answer);
  };

  const ui = (request: Request, url: URL, asset: string): Response => {
    if (!viewer) return apiErrorResponse(new ApiError(404, 'api_request_error', 'no viewer is served here', 'path'));
    if (asset === '') {
      const path = url.pathname.replace(/\/+$/, '');
      return viewerPage(path, path.slice(0, -'/ui'.length), viewer, request.method === 'HEAD');
    }
    return viewerAsset(asset, request.method === 'HEAD') ?? apiErrorResponse(new ApiError(404, 'api_request_error', `no viewer file "${asset}"`, 'path'));
  };

  const readStore = async <T>(read: () => Promise<T>): Promise<T> => {
    try {
      return await read();
    } catch (cause) {
      if (cause instanceof ApiError) throw cause;
      auditor.reportError(
        new AuditError('store_failed', `the store could not answer a read: ${toError(cause).message}`, { cause }),
      );
      throw new ApiError(503, 'api_error', 'The audit store cannot answer right now; try again later.', 'store');
    }
  };

  return {
    async handle(request, context) {
      const url = new URL(request.url);
      const endpoint: AuditEndpoint = context.endpoint ?? (context.id === undefined ? { kind: 'list' } : { kind: 'record', id: context.id });
      // The viewer holds no data: served to anyone, not audited.
      if (endpoint.kind === 'ui') return ui(request, url, endpoint.asset);
      const actor = context.actor;
      if (!actor) return apiErrorResponse(unauthenticated);
      let response: Response;
      try {
        let allowed = false;
        try {
          allowed = (await authorize(actor, request)) === true;
        } catch (cause) {
          auditor.reportError(new AuditError('hook_failed', `authorize threw: ${toError(cause).message}`, { cause }));
        }
        const accountId = actor.account_id;
        if (!allowed || !accountId) {
          throw new ApiError(
            403,
            'api_authorization_error',
            accountId ? 'The caller is not allowed to read audit data.' : 'The caller belongs to no account.',
            'authorization',
          );
        }
        switch (endpoint.kind) {
          case 'list':
            response = await list(url, accountId);
            break;
          case 'record':
            response = await getOne(endpoint.id, accountId);
            break;
          case 'export':
            response = await exportRecords(request, url, accountId);
            break;
          case 'stats':
            response = await stats(url, accountId);
            break;
          case 'openapi': {
            const base = context.base ?? url.pathname.replace(/\/openapi\.json$/, '');
            let document = documents.get(base);
            if (!document) {
              if (documents.size >= 16) documents.clear();
              documents.set(base, (document = JSON.stringify(auditOpenApi(auditor.catalog, { base }))));
            }
            response = new Response(document, { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } });
            break;
          }
        }
      } catch (error) {
        if (!(error instanceof ApiError)) {
          auditor.reportError(new AuditError('store_failed', `audit read failed: ${toError(error).message}`, { cause: error }));
          error = new ApiError(503, 'api_error', 'The audit store cannot answer right now; try again later.', 'store');
        }
        response = apiErrorResponse(error as ApiError);
      }
      // The OpenAPI document is not audited, served or refused.
      if (endpoint.kind !== 'openapi') recordRead(request, url, endpoint, context, actor, response.status);
      return response;
    },
  };
}
