import type { ActionTypeOf, AuditActor, AuditApiOptions, Auditor, Catalog, RouteMap } from '@audit-trail/core';
import {
  activeSpan,
  checkAdapterOptions,
  CLIENT_CLOSED_REQUEST,
  createAdapterKit,
  headerValue,
  pathOfUrl,
  requestTrace,
  requiredRecordUnavailable,
  tagAction,
  taggedAction,
  trimTrailingSlash,
  type AuditContext,
  type MaybePromise,
  type RequestFacts,
} from '@audit-trail/core/adapter';
import { Hono, type Context, type Env, type MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { baseRoutePath, matchedRoutes, routePath } from 'hono/route';
import { clientAddress, executionContextOf, nodeBindingsOf, watchAbort, type AbortListener, type NodeBindings } from './runtime.ts';

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
   * The client's address. Default: the peer address where the runtime tells
   * it — @hono/node-server (the socket), Bun (`server.requestIP`), Deno
   * (`Deno.serve`'s `remoteAddr`), as Hono's `getConnInfo` helpers read it —
   * and `null` elsewhere (Workers, `app.request()`). Behind a proxy, read
   * the header your proxy sets.
   *
   * @example
   * ip: (c) => c.req.header('x-real-ip') ?? null
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
   * Per-route middleware naming the action a route performs. A request to
   * the route that fails before this middleware runs (a body parser or a
   * check registered before the route) is recorded too, as a failure.
   *
   * @example
   * app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), refund);
   */
  action(actionType: ActionTypeOf<C>, options?: HonoActionOptions<E>): MiddlewareHandler<AuditEnv>;
  /**
   * The Retrieve Audit Data endpoint as a Hono app, to mount with `app.route`:
   * every request under its mount goes to core's handler.
   *
   * @example
   * app.route('/audit', audit.router({ authorize: (actor) => actor.role === 'admin' }));
   */
  router(options: HonoRouterOptions<C, A>): Hono;
}

/** The template of the running handler's route; `/customers/` as `/customers`, as in Express. */
function templateOf(c: Context): string | null {
  const path = routePath(c);
  return path ? trimTrailingSlash(path) : null;
}

/** A request header, from Node's parsed headers where available. */
function headerOf(c: Context, node: NodeBindings | null, name: string): string | null {
  return node ? headerValue(node.incoming.headers, name) : (c.req.header(name) ?? null);
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
  checkAdapterOptions('honoAudit', options);
  const { auditor, identify, appId, requestId, ip } = options;
  const kit = createAdapterKit<C, Context<E>, A>(
    { auditor, ...(options.routes ? { routes: options.routes } : {}) },
    {
      identify,
      appId: appId ?? ((c) => headerOf(c, nodeBindingsOf(c), 'app-id')),
      requestId: requestId ?? ((c) => headerOf(c, nodeBindingsOf(c), 'x-request-id')),
      ip: ip ?? clientAddress,
    },
  );

  /** On Workers the isolate may stop once the response is out: keep the write alive. */
  const keepAlive = (c: Context, pending: MaybePromise<void>, node: NodeBindings | null = nodeBindingsOf(c)): void => {
    // Not on Node, where Hono's executionCtx getter would build and throw an Error for every request.
    if (node) return;
    const executionCtx = executionContextOf(c);
    if (!executionCtx) return;
    try {
      executionCtx.waitUntil(Promise.resolve(pending).then(() => auditor.flush()));
    } catch {
      // A context that refuses waitUntil leaves the write to the auditor's own timer.
    }
  };

  /** The action of a matched route whose `audit.action()` never ran (a middleware before it answered). */
  const findDeclaredAction = (c: Context, context: AuditContext, path: string): void => {
    for (const route of matchedRoutes(c)) {
      const declaration = taggedAction<Context<E>>(route.handler);
      if (declaration) return kit.applyAction(context, declaration, { route: trimTrailingSlash(route.path), path });
    }
  };

  const factsOf = (state: HonoRequestState, status: number, aborted: boolean, error: boolean): RequestFacts => {
    const { c, node, context } = state;
    return {
      method: c.req.method,
      path: state.path,
      // After next(), routeIndex is the handler that answered; routePath(c, -1) would name the last
      // *matching* route, which is a catch-all when the app has one.
      route: context.route ?? templateOf(c),
      ip: null,
      user_agent: headerOf(c, node, 'user-agent'),
      request_id: null,
      trace: requestTrace(node ? node.incoming.headers : c.req.raw.headers, state.span),
      span: state.span,
      status,
      aborted,
      error,
      completed_at: new Date(),
    };
  };

  /** Records the request once, whichever comes first: the handlers answered, or the client went away. */
  const settle = (state: HonoRequestState, status: number, aborted: boolean, error: boolean): void => {
    if (state.settled) return;
    state.settled = true;
    const { c, context } = state;
    if (!kit.isNamed(context)) findDeclaredAction(c, context, state.path);
    if (context.action === null) return;
    state.recorded = kit.record(c as unknown as Context<E>, context, factsOf(state, status, aborted, error));
    keepAlive(c, state.recorded, state.node);
  };

  /**
   * What the adapter keeps of one request, in one object; it is also what
   * hears the client go away (`handleEvent`), so watching a request creates
   * no closure.
   */
  class HonoRequestState implements AbortListener {
    settled = false;
    /** The client went away before the handlers answered. */
    aborted = false;
    /** The record's queueing (a promise only while an async hook runs). */
    recorded: MaybePromise<void> = undefined;
    constructor(
      readonly c: Context,
      readonly node: NodeBindings | null,
      /** The path as the client sent it, without the query string. */
      readonly path: string,
      readonly context: AuditContext,
      /** The request's span (with an OpenTelemetry SDK and context manager): its ids go on the record, the action on it as an event. */
      readonly span: ReturnType<typeof activeSpan>,
    ) {}
    handleEvent(): void {
      if (this.settled) return;
      this.aborted = true;
      settle(this, CLIENT_CLOSED_REQUEST, true, false);
    }
  }

  const middleware = createMiddleware<AuditEnv>(async function auditMiddleware(c, next) {
    const path = pathOfUrl(c.req.url);
    const context = kit.enter(c.req.method, path);
    c.set('audit', context);
    const state = new HonoRequestState(c, nodeBindingsOf(c), path, context, activeSpan());
    // The client went away before the handlers answered. (Not `c.res`: reading it early makes Hono copy the real response later.)
    watchAbort(c, state.node, state);

    try {
      await next();
    } catch (error) {
      // Hono rethrows what is not an Error instead of handing it to onError; the client gets a 500.
      settle(state, 500, false, true);
      if (state.span?.isRecording()) await state.recorded;
      throw error;
    }
    if (!state.settled && kit.isRequired(context)) {
      // Fail-closed: the response leaves only once its record is stored; otherwise the client gets a 503.
      state.settled = true;
      if (await kit.recordDurably(c as unknown as Context<E>, context, factsOf(state, c.res.status, false, c.error !== undefined))) return;
      // Cleared first: Hono's setter would carry the handler's headers over to the new response.
      c.res = undefined as unknown as Response;
      c.res = requiredRecordUnavailable();
      state.settled = false;
    }
    settle(state, c.res.status, state.aborted, c.error !== undefined);
    // Whoever started a recording span ends it once this middleware returns: its audit event must be on it by then.
    if (state.span?.isRecording()) await state.recorded;
  });

  const action = (actionType: ActionTypeOf<C>, actionOptions: HonoActionOptions<E> = {}): MiddlewareHandler<AuditEnv> => {
    const declaration = kit.declareAction(actionType, actionOptions ?? {});
    const handler = createMiddleware<AuditEnv>(async function auditAction(c, next) {
      const context = c.get('audit') as AuditContext | undefined;
      if (!context) {
        throw new Error('audit.action() needs the audit middleware: app.use(audit.middleware) before the routes');
      }
      kit.applyAction(context, declaration, {
        route: templateOf(c) ?? context.route,
        path: pathOfUrl(c.req.url),
        // Hono's decoded parameters, read only when the declaration names one.
        param: typeof declaration.resourceId === 'string' ? (c.req.param() as Record<string, string>) : undefined,
      });
      await next();
    });
    return tagAction(handler, declaration);
  };

  const router = (routerOptions: HonoRouterOptions<C, A>): Hono => {
    const read = kit.readHandler<A>(routerOptions);
    const serve: MiddlewareHandler = async (c, next) => {
      const base = baseRoutePath(c);
      const response = await read(c as unknown as Context<E>, c.req.raw, { base, path: pathOfUrl(c.req.url).slice(base.length) });
      keepAlive(c, undefined);
      if (response) return response;
      await next();
    };
    return new Hono().all('/', serve).all('/*', serve);
  };

  return { middleware, action, router };
}
