import {
  activeSpan,
  addRequestEvent,
  AuditError,
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
import {
  Router,
  type ErrorRequestHandler,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';

declare global {
  // Express's own extension point for typed `res.locals`.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** The audit context of this request, set by the audit middleware. */
      audit: AuditContext;
    }
  }
}

export interface ExpressAuditOptions<C extends Catalog, A extends AuditActor> {
  /** The auditor that stamps and stores records. */
  auditor: Auditor<C>;
  /**
   * Who performed the request, from what the app's authentication left on
   * `req`/`res.locals`; `null` when nobody is authenticated (then nothing is
   * recorded). Called once per audited request, after the response (when an
   * OpenTelemetry span records the request: as its head is written, for the
   * span's `audit.record` event), so it runs after the app's auth.
   * A throw is reported through `onError` and counts as unauthenticated.
   *
   * @example
   * identify: (req, res) => res.locals.user && { user: { id: res.locals.user.id }, account_id: res.locals.user.accountId }
   */
  identify: (req: Request, res: Response) => A | null | undefined | Promise<A | null | undefined>;
  /** The business unit of a request. Default: the `app-id` header. Overridden by an actor's own `app_id`. */
  appId?: (req: Request) => string | null | undefined;
  /** The request id. Default: the `x-request-id` header. */
  requestId?: (req: Request) => string | null | undefined;
  /** Declarative map from `METHOD /route/:template` to action type, checked against the catalog. */
  routes?: RouteMap<C>;
  /**
   * Whether the route map's static segments match only in the same case. Default `false`, like
   * Express's own routing, so that `GET /PAYMENTS/1` is audited when Express serves it; set `true`
   * together with Express's `case sensitive routing` setting.
   */
  caseSensitive?: boolean;
}

export interface ExpressActionOptions {
  /**
   * Where the resource id comes from: the name of a route parameter, or a
   * function called once the response is sent (e.g. reading the id of a
   * created object). A handler may also set `res.locals.audit.resourceId`.
   */
  resourceId?: string | ((req: Request, res: Response) => string | null | undefined);
}

export type ExpressRouterOptions<C extends Catalog, A extends AuditActor> = Omit<AuditApiOptions<C, A>, 'auditor'>;

export interface ExpressAudit<C extends Catalog, A extends AuditActor> {
  /**
   * App-level middleware: observes every request and records the audited ones
   * once they are answered. When an OpenTelemetry span is recording the
   * request (HTTP instrumentation), the record carries its ids and the action
   * is added to it as an `audit.record` event when the response head is written.
   */
  middleware: RequestHandler;
  /**
   * Per-route middleware naming the action a route performs.
   *
   * @example
   * app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), refund);
   */
  action(actionType: ActionTypeOf<C>, options?: ExpressActionOptions): RequestHandler;
  /**
   * Error middleware that marks the request as failed before passing the error
   * on; mount it after the routes and before the app's own error handlers so
   * that an error answered with a 2xx still counts as a failure.
   */
  errorHandler: ErrorRequestHandler;
  /**
   * The Retrieve Audit Data endpoint as an Express router.
   *
   * @example
   * app.use('/audit', audit.router({ authorize: (actor) => actor.role === 'admin' }));
   */
  router(options: ExpressRouterOptions<C, A>): Router;
}

function header(req: Request, name: string): string | null {
  const value = req.headers[name];
  if (Array.isArray(value)) return value[0] ?? null;
  return value ?? null;
}

/** `/customers` + `/` is `/customers`; `` + `/` is `/`. */
function joinRoute(base: string, path: string): string {
  const joined = `${base}${path}`;
  return joined.length > 1 && joined.endsWith('/') ? joined.slice(0, -1) : joined;
}

const contexts = new WeakMap<Request, AuditContext>();

type Span = NonNullable<ReturnType<typeof activeSpan>>;

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/**
 * Audit trail for Express 5.
 *
 * @example
 * const audit = expressAudit({ auditor, identify: (req, res) => res.locals.actor });
 * app.use(audit.middleware);
 * app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), refund);
 * app.use('/audit', audit.router({ authorize: (actor) => actor.role === 'admin' }));
 */
export function expressAudit<const C extends Catalog, A extends AuditActor = AuditActor>(
  options: ExpressAuditOptions<C, A>,
): ExpressAudit<C, A> {
  if (!options?.auditor) throw new TypeError('expressAudit: auditor is required');
  if (typeof options.identify !== 'function') throw new TypeError('expressAudit: identify must be a function');
  const { auditor, identify } = options;
  const appIdOf = options.appId ?? ((req: Request) => header(req, 'app-id'));
  const requestIdOf = options.requestId ?? ((req: Request) => header(req, 'x-request-id'));
  const match = options.routes
    ? compileRouteMap(options.routes, auditor.catalog, { caseSensitive: options.caseSensitive ?? false })
    : null;

  /** identify's answer, asked once per request: a span's event and the record share it. */
  const answers = new WeakMap<Request, { threw: boolean; value: unknown }>();
  const askIdentify = (req: Request, res: Response) => {
    let answer = answers.get(req);
    if (answer) return answer;
    try {
      answer = { threw: false, value: identify(req, res) };
    } catch (error) {
      answer = { threw: true, value: error };
    }
    const settled = answer;
    // Kept for a synchronous look later; also marks a rejection as handled until the record awaits it.
    if (isPromiseLike(settled.value)) settled.value.then((value) => (settled.value = value), () => {});
    answers.set(req, answer);
    return answer;
  };

  const resolveActor = async (req: Request, res: Response): Promise<AuditActor | null> => {
    const actor = await runHook(auditor, 'identify', null, () => {
      const answer = askIdentify(req, res);
      if (answer.threw) throw answer.value;
      return answer.value as ReturnType<typeof identify>;
    });
    if (!actor) return null;
    if (actor.app_id != null) return actor;
    const appId = await runHook(auditor, 'appId', null, () => appIdOf(req));
    return { ...actor, app_id: appId ?? null };
  };

  const factsOf = (req: Request, res: Response, context: AuditContext, status: number, aborted: boolean): RequestFacts => ({
    method: req.method,
    path: (req.originalUrl ?? req.url).split('?')[0]!,
    route: context.route,
    ip: req.ip ?? null,
    user_agent: header(req, 'user-agent'),
    request_id: null,
    trace: requestTrace(req.headers, spans.get(req)),
    status,
    aborted,
    error: errored.has(req),
    completed_at: new Date(),
  });

  /** Runs the app's hooks that complete the facts, and resolves who acted. */
  const complete = async (req: Request, res: Response, context: AuditContext, facts: RequestFacts) => {
    facts.request_id = (await runHook(auditor, 'requestId', null, () => requestIdOf(req))) ?? null;
    const resourceIdHook = resourceIdHooks.get(context);
    if (resourceIdHook) {
      const id = await runHook(auditor, 'resourceId', null, () => resourceIdHook(req, res));
      if (id != null) context.resourceId = String(id);
    }
    return resolveActor(req, res);
  };

  /** Records the request once it is answered or abandoned, whichever comes first. */
  const observe = (req: Request, res: Response, context: AuditContext) => {
    let settled = false;
    const onDone = (aborted: boolean) => {
      if (settled) return;
      settled = true;
      res.off('finish', onFinish);
      res.off('close', onClose);
      if (context.action === null || durablyRecorded.has(context)) return;
      const facts = factsOf(req, res, context, res.statusCode, aborted);
      void complete(req, res, context, facts).then((actor) => recordRequest(auditor, context, actor, facts));
    };
    const onFinish = () => onDone(false);
    // 'close' without 'finish' means the client went away before the response was complete.
    const onClose = () => onDone(!res.writableFinished);
    res.on('finish', onFinish);
    res.on('close', onClose);
  };

  /**
   * Fail-closed: holds what the handler sends until the record is stored, then
   * releases it; answers 503 instead when the record cannot be stored.
   */
  const holdUntilRecorded = (req: Request, res: Response, context: AuditContext) => {
    if (held.has(res)) return;
    held.add(res);
    const writeHead = res.writeHead;
    const write = res.write;
    const end = res.end;
    const rawWrite = write as unknown as (this: Response, chunk: unknown, encoding?: BufferEncoding) => boolean;
    const rawEnd = end as unknown as (this: Response, ...args: unknown[]) => Response;
    const chunks: [unknown, BufferEncoding | undefined][] = [];
    let head: Parameters<Response['writeHead']> | null = null;
    const restore = () => {
      res.writeHead = writeHead;
      res.write = write;
      res.end = end;
    };
    res.writeHead = function heldWriteHead(this: Response, ...args: Parameters<Response['writeHead']>) {
      head = args;
      res.statusCode = args[0];
      return this;
    } as Response['writeHead'];
    res.write = function heldWrite(chunk: unknown, encoding?: unknown, callback?: unknown) {
      chunks.push([chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined]);
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
      return true;
    } as Response['write'];
    res.end = function heldEnd(chunk?: unknown, encoding?: unknown, callback?: unknown) {
      if (typeof chunk === 'function') callback = chunk;
      else if (chunk !== undefined && chunk !== null) chunks.push([chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined]);
      if (typeof encoding === 'function') callback = encoding;
      restore();
      const facts = factsOf(req, res, context, res.statusCode, false);
      void complete(req, res, context, facts)
        .then((actor) => recordRequestDurably(auditor, context, actor, facts))
        .then((stored) => {
          if (res.destroyed) return;
          if (stored) {
            durablyRecorded.add(context);
            if (head) writeHead.apply(res, head);
            for (const [data, enc] of chunks) rawWrite.call(res, data, enc);
            rawEnd.call(res, ...(typeof callback === 'function' ? [callback] : []));
            return;
          }
          for (const name of res.getHeaderNames()) res.removeHeader(name);
          const body = JSON.stringify(REQUIRED_RECORD_UNAVAILABLE.toJSON());
          res.statusCode = REQUIRED_RECORD_UNAVAILABLE.status;
          res.setHeader('content-type', 'application/json; charset=utf-8');
          res.setHeader('content-length', Buffer.byteLength(body));
          rawEnd.call(res, body);
        });
      return res;
    } as Response['end'];
  };

  /**
   * Adds the action to the request's span as an `audit.record` event when the
   * response head is written: its status is final then, and the span still
   * open — HTTP instrumentation ends it on the response's `finish`, before
   * the listener that records the action runs. The hooks the event needs run
   * now, once: a resourceId function, and identify, whose answer the record
   * reuses (an async identify's event is added when it answers, if the span
   * is still recording then).
   */
  const addEventOnHead = (req: Request, res: Response, context: AuditContext, span: Span) => {
    const writeHead = res.writeHead;
    res.writeHead = function auditedWriteHead(this: Response, ...args: Parameters<Response['writeHead']>) {
      res.writeHead = writeHead;
      const result = writeHead.apply(this, args);
      if (context.action !== null && span.isRecording()) {
        const resourceIdHook = resourceIdHooks.get(context);
        if (resourceIdHook) {
          resourceIdHooks.delete(context);
          try {
            const id = resourceIdHook(req, res);
            if (id != null) context.resourceId = String(id);
          } catch (cause) {
            const message = cause instanceof Error ? cause.message : String(cause);
            auditor.reportError(new AuditError('hook_failed', `resourceId threw: ${message}`, { cause }));
          }
        }
        const facts = { ...factsOf(req, res, context, res.statusCode, false), span };
        const answer = askIdentify(req, res);
        if (answer.threw) return result;
        if (isPromiseLike(answer.value)) {
          // Too late for a span that ends with the response; in time for one that outlives it.
          answer.value.then((actor) => addRequestEvent(auditor, context, actor as AuditActor | null, facts), () => {});
        } else addRequestEvent(auditor, context, answer.value as AuditActor | null | undefined, facts);
      }
      return result;
    } as Response['writeHead'];
  };

  /** Marks the action of a request; a fail-closed action's response is held until its record is stored. */
  const assign = (req: Request, res: Response, context: AuditContext, actionType: string) => {
    context.action = actionType;
    if (auditor.isRequired(actionType)) holdUntilRecorded(req, res, context);
  };

  const held = new WeakSet<Response>();
  const durablyRecorded = new WeakSet<AuditContext>();
  const resourceIdHooks = new WeakMap<AuditContext, (req: Request, res: Response) => string | null | undefined>();
  const errored = new WeakSet<Request>();
  const spans = new WeakMap<Request, Span>();

  const middleware: RequestHandler = function auditMiddleware(req, res, next) {
    const context = createAuditContext();
    contexts.set(req, context);
    res.locals.audit = context;
    // Captured on entry: the server span is active here, but not in the response's event listeners.
    const span = activeSpan();
    if (span) spans.set(req, span);
    if (span?.isRecording()) addEventOnHead(req, res, context, span);
    const found = match?.(req.method, req.path);
    observe(req, res, context);
    if (found) {
      context.route = found.route;
      context.resourceId = found.resource_id;
      assign(req, res, context, found.action_type);
    }
    next();
  };

  const action = (actionType: ActionTypeOf<C>, actionOptions: ExpressActionOptions = {}): RequestHandler => {
    if (!Object.hasOwn(auditor.catalog, actionType)) {
      throw new TypeError(`audit.action: "${String(actionType)}" is not in the catalog`);
    }
    const resourceId = actionOptions.resourceId;
    if (resourceId !== undefined && typeof resourceId !== 'string' && typeof resourceId !== 'function') {
      throw new TypeError('audit.action: resourceId must be a route parameter name or a function');
    }
    return function auditAction(req: Request, res: Response, next: NextFunction) {
      const context = contexts.get(req);
      if (!context) {
        next(new Error('audit.action() needs the audit middleware: app.use(audit.middleware) before the routes'));
        return;
      }
      assign(req, res, context, actionType);
      if (typeof req.route?.path === 'string') context.route = joinRoute(req.baseUrl, req.route.path);
      if (typeof resourceId === 'string') {
        const value: string | string[] | undefined = req.params[resourceId];
        context.resourceId = Array.isArray(value) ? value.join('/') : (value ?? null);
      }
      else if (typeof resourceId === 'function') resourceIdHooks.set(context, resourceId);
      next();
    };
  };

  const errorHandler: ErrorRequestHandler = function auditErrorHandler(err, req, _res, next) {
    errored.add(req);
    next(err);
  };

  const router = (routerOptions: ExpressRouterOptions<C, A>): Router => {
    const api = createAuditApi<C, A>({ ...routerOptions, auditor });
    const handle = async (req: Request, res: Response, id: string | undefined) => {
      const actor = await resolveActor(req, res);
      const url = `${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`;
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (value === undefined) continue;
        headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      const response = await api.handle(new Request(url, { method: req.method, headers }), {
        actor: actor as A | null,
        ...(id === undefined ? {} : { id }),
        route: joinRoute(req.baseUrl, id === undefined ? '/' : '/:id'),
        ip: req.ip ?? null,
        request_id: requestIdOf(req) ?? null,
      });
      res.status(response.status);
      response.headers.forEach((value, name) => res.setHeader(name, value));
      res.send(await response.text());
    };
    const audit = Router();
    audit.get('/', (req, res) => handle(req, res, undefined));
    audit.get('/:id', (req, res) => handle(req, res, req.params.id));
    return audit;
  };

  return { middleware, action, errorHandler, router };
}
