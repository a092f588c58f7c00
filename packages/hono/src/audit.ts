import {
  activeSpan,
  CLIENT_CLOSED_REQUEST,
  compileRouteMap,
  createAuditApi,
  createAuditContext,
  recordRequest,
  recordRequestDurably,
  REQUIRED_RECORD_UNAVAILABLE,
  requestTrace,
  runHook,
  type ActionTypeOf,
  type AuditActor,
  type AuditApiOptions,
  type AuditContext,
  type Auditor,
  type Catalog,
  type RequestFacts,
  type RouteMap,
} from '@audit-trail/core';
import { Hono, type Context, type Env, type ExecutionContext, type MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { routePath } from 'hono/route';

/** The context variables the audit middleware sets. */
export type AuditVariables = {
  /** The audit context of this request: handlers set `resourceId`, `details`, `changes` (e.g. `diffChanges(before, after)`), or `action` on it. */
  audit: AuditContext;
};

/** The environment of a handler behind the audit middleware. */
export type AuditEnv = { Variables: AuditVariables };

declare module 'hono' {
  interface ContextVariableMap {
    /** The audit context of this request, set by the audit middleware. */
    audit: AuditContext;
  }
}

export interface HonoAuditOptions<C extends Catalog, A extends AuditActor, E extends Env = Env> {
  /** The auditor that stamps and stores records. */
  auditor: Auditor<C>;
  /**
   * Who performed the request, from what the app's authentication set on the
   * context; `null` when nobody is authenticated (then nothing is recorded).
   * Called once the handlers are done, so it runs after the app's auth.
   * A throw is reported through `onError` and counts as unauthenticated.
   *
   * @example
   * identify: (c) => c.get('user') ?? null
   */
  identify: (c: Context<E>) => A | null | undefined | Promise<A | null | undefined>;
  /** The business unit of a request. Default: the `app-id` header. Overridden by an actor's own `app_id`. */
  appId?: (c: Context<E>) => string | null | undefined;
  /** The request id. Default: the `x-request-id` header. */
  requestId?: (c: Context<E>) => string | null | undefined;
  /**
   * The client's address. Default: none (`null`): Hono does not know it in a
   * runtime-neutral way. On Node pass `@hono/node-server/conninfo`'s
   * `getConnInfo`; behind a proxy, read the header your proxy sets.
   *
   * @example
   * import { getConnInfo } from '@hono/node-server/conninfo';
   * ip: (c) => getConnInfo(c).remote.address ?? null
   */
  ip?: (c: Context<E>) => string | null | undefined;
  /** Declarative map from `METHOD /route/:template` to action type, checked against the catalog. */
  routes?: RouteMap<C>;
}

export interface HonoActionOptions<E extends Env = Env> {
  /**
   * Where the resource id comes from: the name of a route parameter, or a
   * function called once the handlers are done (e.g. reading the id of a
   * created object). A handler may also set `c.get('audit').resourceId`.
   */
  resourceId?: string | ((c: Context<E>) => string | null | undefined);
}

export type HonoRouterOptions<C extends Catalog, A extends AuditActor> = Omit<AuditApiOptions<C, A>, 'auditor'>;

export interface HonoAudit<C extends Catalog, A extends AuditActor, E extends Env = Env> {
  /**
   * App-level middleware: observes every request and records the audited ones
   * once the handlers have answered (`c.error` set counts as a failure), or
   * when the client goes away first (499, where the runtime aborts
   * `c.req.raw.signal` — Bun, Deno — or closes Node's response on @hono/node-server). A streamed body is
   * recorded when its `Response` is returned, not when its last byte is sent.
   * On Workers the write is kept alive with `executionCtx.waitUntil`.
   * When an OpenTelemetry span is recording the request (e.g. `@hono/otel`
   * before this middleware), the record carries its ids and the action is
   * added to it as an `audit.record` event before this middleware returns.
   */
  middleware: MiddlewareHandler<AuditEnv>;
  /**
   * Per-route middleware naming the action a route performs.
   *
   * @example
   * app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), refund);
   */
  action(actionType: ActionTypeOf<C>, options?: HonoActionOptions<E>): MiddlewareHandler<AuditEnv>;
  /**
   * The Retrieve Audit Data endpoint as a Hono app, to mount with `app.route`.
   *
   * @example
   * app.route('/audit', audit.router({ authorize: (actor) => actor.role === 'admin' }));
   */
  router(options: HonoRouterOptions<C, A>): Hono;
}

/** The path as the client sent it (not percent-decoded), without the query string. */
function rawPath(url: string): string {
  const start = url.indexOf('/', url.indexOf('://') + 3);
  if (start < 0) return '/';
  const end = url.slice(start).search(/[?#]/);
  return end < 0 ? url.slice(start) : url.slice(start, start + end);
}

/** The template of the running handler's route; `/customers/` as `/customers`, as in Express. */
function templateOf(c: Context): string | null {
  const path = routePath(c);
  if (!path) return null;
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** The Workers-style execution context, or `null` where the runtime has none (Hono's getter throws then). */
function executionContextOf(c: Context): ExecutionContext | null {
  try {
    return c.executionCtx ?? null;
  } catch {
    return null;
  }
}

function signalOf(request: Request): AbortSignal | null {
  try {
    return request.signal ?? null;
  } catch {
    return null;
  }
}

/** What @hono/node-server puts in `c.env`: Node's request and response, seen only by their shape. */
interface NodeBindings {
  incoming: { headers: Readonly<Record<string, string | string[] | undefined>> };
  outgoing: {
    readonly writableFinished: boolean;
    once(event: 'close', listener: () => void): unknown;
    off(event: 'close', listener: () => void): unknown;
  };
}

/**
 * Node's request and response when the app runs on @hono/node-server. Reading
 * them there is much cheaper than `c.req.raw.signal` or `c.req.raw.headers`,
 * which make the server build a full Web `Request` for every request (a test
 * measured a fourfold drop in throughput). Duck-typed: nothing of Node is imported.
 */
function nodeBindingsOf(c: Context): NodeBindings | null {
  const env = c.env as Partial<NodeBindings> | undefined;
  const outgoing = env?.outgoing;
  const headers = env?.incoming?.headers;
  return outgoing && typeof outgoing.once === 'function' && typeof outgoing.off === 'function' && headers && typeof headers === 'object'
    ? (env as NodeBindings)
    : null;
}

/** A request header, from Node's parsed headers where available. */
function headerOf(c: Context, node: NodeBindings | null, name: string): string | null {
  if (!node) return c.req.header(name) ?? null;
  const value = node.incoming.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

/**
 * Calls `onAbort` if the client goes away before the response is complete;
 * returns the function that stops watching.
 */
function watchAbort(c: Context, node: NodeBindings | null, onAbort: () => void): () => void {
  if (node) {
    const { outgoing } = node;
    const onClose = () => {
      if (!outgoing.writableFinished) onAbort();
    };
    outgoing.once('close', onClose);
    return () => outgoing.off('close', onClose);
  }
  const signal = signalOf(c.req.raw);
  if (!signal) return () => {};
  if (signal.aborted) {
    queueMicrotask(onAbort);
    return () => {};
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/**
 * Audit trail for Hono 4, on any runtime (Node, Bun, Deno, Cloudflare Workers).
 *
 * @example
 * const audit = honoAudit({ auditor, identify: (c) => c.get('user') ?? null });
 * app.use(audit.middleware);
 * app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), refund);
 * app.route('/audit', audit.router({ authorize: (actor) => actor.role === 'admin' }));
 */
export function honoAudit<const C extends Catalog, A extends AuditActor = AuditActor, E extends Env = any>(
  options: HonoAuditOptions<C, A, E>,
): HonoAudit<C, A, E> {
  if (!options?.auditor) throw new TypeError('honoAudit: auditor is required');
  if (typeof options.identify !== 'function') throw new TypeError('honoAudit: identify must be a function');
  const { auditor, identify } = options;
  const appIdOf = options.appId ?? ((c: Context<E>) => headerOf(c, nodeBindingsOf(c), 'app-id'));
  const requestIdOf = options.requestId ?? ((c: Context<E>) => headerOf(c, nodeBindingsOf(c), 'x-request-id'));
  const ipOf = options.ip ?? null;
  const match = options.routes ? compileRouteMap(options.routes, auditor.catalog) : null;
  const resourceIdHooks = new WeakMap<AuditContext, (c: Context<E>) => string | null | undefined>();

  const resolveActor = async (c: Context<E>): Promise<AuditActor | null> => {
    const actor = await runHook(auditor, 'identify', null, () => identify(c));
    if (!actor) return null;
    if (actor.app_id != null) return actor;
    const appId = await runHook(auditor, 'appId', null, () => appIdOf(c));
    return { ...actor, app_id: appId ?? null };
  };

  const ipOfRequest = async (c: Context<E>): Promise<string | null> =>
    ipOf ? ((await runHook(auditor, 'ip', null, () => ipOf(c))) ?? null) : null;

  /** On Workers the isolate may stop once the response is out: keep the write alive. */
  const keepAlive = (c: Context, pending: Promise<unknown>): void => {
    // Not on Node, where Hono's executionCtx getter would build and throw an Error for every request.
    if (nodeBindingsOf(c)) return;
    const executionCtx = executionContextOf(c);
    if (!executionCtx) return;
    try {
      executionCtx.waitUntil(pending.then(() => auditor.flush()));
    } catch {
      // A context that refuses waitUntil leaves the write to the auditor's own timer.
    }
  };

  const middleware = createMiddleware<AuditEnv>(async function auditMiddleware(c, next) {
    const ctx = c as unknown as Context<E>;
    const context = createAuditContext();
    c.set('audit', context);
    const path = rawPath(c.req.url);
    const found = match?.(c.req.method, path);
    if (found) {
      context.action = found.action_type;
      context.route = found.route;
      context.resourceId = found.resource_id;
    }
    const node = nodeBindingsOf(c);
    // The request's span (with an OpenTelemetry SDK and context manager): its ids go on the record, the action on it as an event.
    const span = activeSpan();

    const factsOf = (status: number, aborted: boolean, error: boolean): RequestFacts => ({
      method: c.req.method,
      path,
      // After next(), routeIndex is the handler that answered; routePath(c, -1) would name the last
      // *matching* route, which is a catch-all when the app has one.
      route: context.route ?? templateOf(c),
      ip: null,
      user_agent: headerOf(c, node, 'user-agent'),
      request_id: null,
      trace: requestTrace(node ? node.incoming.headers : c.req.raw.headers, span),
      span,
      status,
      aborted,
      error,
      completed_at: new Date(),
    });
    /** Runs the app's hooks that complete the facts, and resolves who acted. */
    const complete = async (facts: RequestFacts): Promise<AuditActor | null> => {
      facts.request_id = (await runHook(auditor, 'requestId', null, () => requestIdOf(ctx))) ?? null;
      facts.ip = await ipOfRequest(ctx);
      const resourceIdHook = resourceIdHooks.get(context);
      if (resourceIdHook) {
        const id = await runHook(auditor, 'resourceId', null, () => resourceIdHook(ctx));
        if (id != null) context.resourceId = String(id);
      }
      return resolveActor(ctx);
    };

    let settled = false;
    let recorded: Promise<void> | null = null;
    const settle = (status: number, aborted: boolean, error: boolean): void => {
      if (settled) return;
      settled = true;
      stopWatching();
      if (context.action === null) return;
      const facts = factsOf(status, aborted, error);
      recorded = complete(facts).then((actor) => recordRequest(auditor, context, actor, facts));
      keepAlive(c, recorded);
    };
    // The client went away before the handlers answered. (Not `c.res`: reading it early makes Hono copy the real response later.)
    let aborted = false;
    const stopWatching = watchAbort(c, node, () => {
      aborted = true;
      settle(CLIENT_CLOSED_REQUEST, true, false);
    });

    try {
      await next();
    } catch (error) {
      // Hono rethrows what is not an Error instead of handing it to onError; the client gets a 500.
      settle(500, false, true);
      if (recorded && span?.isRecording()) await recorded;
      throw error;
    }
    if (!settled && context.action !== null && auditor.isRequired(context.action)) {
      // Fail-closed: the response leaves only once its record is stored; otherwise the client gets a 503.
      settled = true;
      stopWatching();
      const facts = factsOf(c.res.status, false, c.error !== undefined);
      if (await recordRequestDurably(auditor, context, await complete(facts), facts)) return;
      // Cleared first: Hono's setter would carry the handler's headers over to the new response.
      c.res = undefined as unknown as Response;
      c.res = new Response(JSON.stringify(REQUIRED_RECORD_UNAVAILABLE.toJSON()), {
        status: REQUIRED_RECORD_UNAVAILABLE.status,
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      settled = false;
    }
    settle(c.res.status, aborted, c.error !== undefined);
    // Whoever started a recording span ends it once this middleware returns: its audit event must be on it by then.
    if (recorded && span?.isRecording()) await recorded;
  });

  const action = (actionType: ActionTypeOf<C>, actionOptions: HonoActionOptions<E> = {}): MiddlewareHandler<AuditEnv> => {
    if (!Object.hasOwn(auditor.catalog, actionType)) {
      throw new TypeError(`audit.action: "${String(actionType)}" is not in the catalog`);
    }
    const resourceId = actionOptions.resourceId;
    if (resourceId !== undefined && typeof resourceId !== 'string' && typeof resourceId !== 'function') {
      throw new TypeError('audit.action: resourceId must be a route parameter name or a function');
    }
    return createMiddleware<AuditEnv>(async function auditAction(c, next) {
      const context = c.get('audit') as AuditContext | undefined;
      if (!context) {
        throw new Error('audit.action() needs the audit middleware: app.use(audit.middleware) before the routes');
      }
      context.action = actionType;
      context.route = templateOf(c) ?? context.route;
      if (typeof resourceId === 'string') context.resourceId = c.req.param(resourceId) ?? null;
      else if (typeof resourceId === 'function') resourceIdHooks.set(context, resourceId);
      await next();
    });
  };

  const router = (routerOptions: HonoRouterOptions<C, A>): Hono => {
    const api = createAuditApi<C, A>({ ...routerOptions, auditor });
    const handle = async (c: Context, id: string | undefined): Promise<Response> => {
      const ctx = c as unknown as Context<E>;
      const actor = await resolveActor(ctx);
      const response = await api.handle(c.req.raw, {
        actor: actor as A | null,
        ...(id === undefined ? {} : { id }),
        route: templateOf(c),
        ip: await ipOfRequest(ctx),
        request_id: (await runHook(auditor, 'requestId', null, () => requestIdOf(ctx))) ?? null,
      });
      keepAlive(c, Promise.resolve());
      return response;
    };
    const audit = new Hono();
    audit.get('/', (c) => handle(c, undefined));
    audit.get('/:id', (c) => handle(c, c.req.param('id')));
    return audit;
  };

  return { middleware, action, router };
}
