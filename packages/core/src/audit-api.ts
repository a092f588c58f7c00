import type { Auditor, AuditActor } from './auditor.ts';
import { RETRIEVE_AUDIT_DATA, type Catalog } from './catalog.ts';
import { createCursorCodec, type CursorCodec } from './cursor.ts';
import { ApiError, apiErrorResponse, AuditError, toError } from './errors.ts';
import type { AuditRecord, AuditTrace } from './record.ts';
import { filterOfQuery, parseAuditQuery, type AuditQuery } from './query.ts';
import { activeSpan, addAuditEvent, requestTrace } from './otel.ts';

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
}

/** What the framework knows about a request to the endpoint. */
export interface AuditApiContext<A extends AuditActor = AuditActor> {
  /** The authenticated caller, or `null` (answered 401). */
  actor: A | null;
  /** The record id of `GET /audit/:id`; absent for the list. */
  id?: string;
  /** The route template, for the audit record of the read. */
  route?: string | null;
  ip?: string | null;
  request_id?: string | null;
  trace?: AuditTrace | null;
}

/** The Retrieve Audit Data endpoint as a Web `Request` → `Response` handler. */
export interface AuditApi<A extends AuditActor = AuditActor> {
  /** `GET /audit` when `context.id` is absent, `GET /audit/:id` when present. */
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

  const recordRead = (request: Request, url: URL, context: AuditApiContext<A>, actor: A, status: number): void => {
    const details: Record<string, unknown> = {};
    if (context.id === undefined && url.search) details.parameters = Object.fromEntries(url.searchParams);
    // The router runs in the request's context: its server span, when an SDK records one.
    const span = activeSpan();
    const input = {
      action_type: RETRIEVE_AUDIT_DATA,
      resource_id: context.id ?? null,
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

  const readStore = async <T>(read: () => Promise<T>): Promise<T> => {
    try {
      return await read();
    } catch (cause) {
      auditor.reportError(
        new AuditError('store_failed', `the store could not answer a read: ${toError(cause).message}`, { cause }),
      );
      throw new ApiError(503, 'api_error', 'The audit store cannot answer right now; try again later.', 'store');
    }
  };

  return {
    async handle(request, context) {
      const url = new URL(request.url);
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
        response = context.id === undefined ? await list(url, accountId) : await getOne(context.id, accountId);
      } catch (error) {
        if (!(error instanceof ApiError)) {
          auditor.reportError(new AuditError('store_failed', `audit read failed: ${toError(error).message}`, { cause: error }));
          error = new ApiError(503, 'api_error', 'The audit store cannot answer right now; try again later.', 'store');
        }
        response = apiErrorResponse(error as ApiError);
      }
      recordRead(request, url, context, actor, response.status);
      return response;
    },
  };
}
