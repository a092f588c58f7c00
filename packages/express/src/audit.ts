import type { ActionTypeOf, AuditActor, Catalog, RouteMap } from '@audit-trail/core';
import {
  activeSpan,
  checkAdapterOptions,
  createAdapterKit,
  headerValue,
  joinRoute,
  JSON_CONTENT_TYPE,
  REQUIRED_RECORD_UNAVAILABLE,
  REQUIRED_RECORD_UNAVAILABLE_BODY,
  requestTrace,
  tagAction,
  type ActionDeclaration,
  type AuditContext,
  type RequestFacts,
} from '@audit-trail/core/adapter';
import type { AuditApiOptions, Auditor } from '@audit-trail/core';
import { Readable, pipeline } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { Router, type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { holdResponse } from './hold-response.ts';
import { declaredRoute } from './route-lookup.ts';

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
   * Per-route middleware naming the action a route performs. A request to
   * the route that fails before this middleware runs (a body parser or a
   * check mounted before the route) is recorded too, as a failure.
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
   * The Retrieve Audit Data endpoint as an Express router: every request
   * under its mount goes to core's handler.
   *
   * @example
   * app.use('/audit', audit.router({ authorize: (actor) => actor.role === 'admin' }));
   */
  router(options: ExpressRouterOptions<C, A>): Router;
}

/** What the kit's hooks receive: Express's pair. */
interface Exchange {
  req: Request;
  res: Response;
}

/**
 * Everything the adapter keeps of one request, in one object on the
 * response (as pino-http keeps a request's state on `res`): the kit's hooks
 * receive it as the `{ req, res }` pair, so nothing else is built per request.
 */
class RequestState implements Exchange {
  /** A handler threw or passed an error on. */
  errored = false;
  /** The response is held until its record is stored (fail-closed). */
  held = false;
  /** The request was recorded (or its held record stored): later events have nothing more to record. */
  recorded = false;
  constructor(
    readonly req: Request,
    readonly res: Response,
    readonly context: AuditContext,
    /** The server span active on entry (response listeners run outside it). */
    readonly span: ReturnType<typeof activeSpan>,
  ) {}
}

/** Where a response keeps its request's state. */
const STATE = Symbol('@audit-trail/express:state');
type AuditedResponse = Response & { [STATE]?: RequestState };

const stateOf = (res: Response): RequestState | undefined => (res as AuditedResponse)[STATE];

/** The path the client asked for, without the query string. */
function pathOf(req: Request): string {
  const url = req.originalUrl ?? req.url;
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/** Express 5's route parameters, which the kit reads by name (a wildcard's segments come as an array). */
const paramsOf = (req: Request): Readonly<Record<string, string | readonly string[] | undefined>> => req.params as Record<string, string | string[]>;

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
  checkAdapterOptions('expressAudit', options, ['appId', 'requestId']);
  const { identify, appId, requestId } = options;
  const kit = createAdapterKit<C, Exchange, A>(
    { auditor: options.auditor, ...(options.routes ? { routes: options.routes } : {}), caseSensitive: options.caseSensitive ?? false },
    {
      identify: ({ req, res }) => identify(req, res),
      appId: appId ? ({ req }) => appId(req) : ({ req }) => headerValue(req.headers, 'app-id'),
      requestId: requestId ? ({ req }) => requestId(req) : ({ req }) => headerValue(req.headers, 'x-request-id'),
      ip: ({ req }) => req.ip,
    },
  );

  const factsOf = (state: RequestState, status: number, aborted: boolean, path: string = pathOf(state.req)): RequestFacts => {
    const { req } = state;
    return {
      method: req.method,
      path,
      route: state.context.route,
      ip: null,
      user_agent: headerValue(req.headers, 'user-agent'),
      request_id: null,
      trace: requestTrace(req.headers, state.span),
      status,
      aborted,
      error: state.errored,
      completed_at: new Date(),
    };
  };

  /** The action of a route that answered before its `audit.action()` ran. */
  const findDeclaredAction = (state: RequestState, path: string): void => {
    const { req } = state;
    const router = (req.app as unknown as { router?: { stack?: unknown } }).router;
    const found = declaredRoute<Exchange>(router?.stack, req.method, path);
    if (found) kit.applyAction(state.context, found.declaration, { route: found.route, path, param: found.params });
  };

  /**
   * The one listener of an audited response, the same function for every
   * response: Node emits `'close'` once per response, after `'finish'` when it
   * was sent, alone when the client went away first (`writableFinished` tells
   * which: an abort is recorded as 499).
   */
  const onResponseClose = function onResponseClose(this: Response): void {
    const state = stateOf(this);
    if (!state || state.recorded) return;
    state.recorded = true;
    const path = pathOf(state.req);
    if (!kit.isNamed(state.context)) findDeclaredAction(state, path);
    if (state.context.action === null) return;
    void kit.record(state, state.context, factsOf(state, this.statusCode, !this.writableFinished, path));
  };

  /** Fail-closed: what the handler sends leaves once the record is stored; a 503 otherwise. */
  const holdUntilRecorded = (state: RequestState) => {
    if (state.held) return;
    state.held = true;
    holdResponse(state.res, (held) => {
      const facts = factsOf(state, state.res.statusCode, false);
      void kit.recordDurably(state, state.context, facts).then((stored) => {
        if (!stored) return held.replace(REQUIRED_RECORD_UNAVAILABLE.status, JSON_CONTENT_TYPE, REQUIRED_RECORD_UNAVAILABLE_BODY);
        state.recorded = true;
        held.release();
      });
    });
  };

  /**
   * Adds the action to the request's span as an `audit.record` event when the
   * response head is written: its status is final then, and the span still
   * open — HTTP instrumentation ends it on the response's `finish`, before
   * the listener that records the action runs. Only for a recording span.
   */
  const addEventOnHead = (state: RequestState, span: NonNullable<RequestState['span']>) => {
    const { res } = state;
    const writeHead = res.writeHead;
    res.writeHead = function auditedWriteHead(this: Response, ...args: Parameters<Response['writeHead']>) {
      res.writeHead = writeHead;
      const result = writeHead.apply(this, args);
      kit.addEvent(state, state.context, { ...factsOf(state, res.statusCode, false), ip: state.req.ip ?? null, span });
      return result;
    } as Response['writeHead'];
  };

  const middleware: RequestHandler = function auditMiddleware(req, res, next) {
    const context = kit.enter(req.method, req.path);
    // Captured on entry: the server span is active here, but not in the response's event listeners.
    const state = new RequestState(req, res, context, activeSpan());
    (res as AuditedResponse)[STATE] = state;
    res.locals.audit = context;
    if (state.span?.isRecording()) addEventOnHead(state, state.span);
    res.on('close', onResponseClose);
    if (kit.isRequired(context)) holdUntilRecorded(state);
    next();
  };

  const action = (actionType: ActionTypeOf<C>, actionOptions: ExpressActionOptions = {}): RequestHandler => {
    const { resourceId } = actionOptions ?? {};
    const declaration: ActionDeclaration<Exchange> = kit.declareAction(actionType, {
      ...(resourceId === undefined ? {} : { resourceId: typeof resourceId === 'function' ? ({ req, res }: Exchange) => resourceId(req, res) : resourceId }),
    });
    return tagAction(function auditAction(req: Request, res: Response, next: NextFunction) {
      const state = stateOf(res);
      if (!state) {
        next(new Error('audit.action() needs the audit middleware: app.use(audit.middleware) before the routes'));
        return;
      }
      kit.applyAction(state.context, declaration, {
        route: typeof req.route?.path === 'string' ? joinRoute(req.baseUrl, req.route.path) : null,
        path: pathOf(req),
        param: paramsOf(req),
      });
      if (kit.isRequired(state.context)) holdUntilRecorded(state);
      next();
    }, declaration);
  };

  const errorHandler: ErrorRequestHandler = function auditErrorHandler(err, _req, res, next) {
    const state = stateOf(res);
    if (state) state.errored = true;
    next(err);
  };

  const router = (routerOptions: ExpressRouterOptions<C, A>): Router => {
    const read = kit.readHandler<A>(routerOptions);
    const audit = Router();
    audit.use((req, res, next) => {
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      const request = new Request(`${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`, { method: req.method, headers });
      read({ req, res }, request, { base: req.baseUrl, path: req.path })
        .then(async (response) => {
          if (!response) return next();
          res.status(response.status);
          response.headers.forEach((value, name) => res.setHeader(name, value));
          if (!response.body) return void res.end();
          // Streamed as the client reads: an export of millions of records holds one page at a time.
          pipeline(Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>), res, () => {});
        })
        .catch(next);
    });
    return audit;
  };

  return { middleware, action, errorHandler, router };
}
