import type { ActionTypeOf, AuditActor, AuditApiOptions, Auditor, Catalog, RouteMap } from '@audit-trail/core';
import {
  activeSpan,
  checkAdapterOptions,
  createAdapterKit,
  headerValue,
  JSON_CONTENT_TYPE,
  pathOfUrl,
  REQUIRED_RECORD_UNAVAILABLE,
  REQUIRED_RECORD_UNAVAILABLE_BODY,
  requestTrace,
  trimTrailingSlash,
  type ActionDeclaration,
  type AuditContext,
  type RequestFacts,
} from '@audit-trail/core/adapter';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { FastifyInstance, FastifyPluginAsync, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';

/** Where a route's resource id comes from: a route parameter's name, or a function called once the response is sent. */
export type FastifyResourceId = string | ((request: FastifyRequest, reply: FastifyReply) => string | null | undefined);

/** What a route's `config.audit` names: its action, and where its resource id comes from. */
export interface FastifyAuditRoute<A extends string = string> {
  action: A;
  resourceId?: FastifyResourceId;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The audit context of this request, set by the audit plugin: handlers set `resourceId`, `details` or `action` on it. */
    audit: AuditContext;
  }
  interface FastifyContextConfig {
    /** The action this route performs; best written with `audit.action(...)`, which checks it against the catalog. */
    audit?: FastifyAuditRoute;
  }
}

export interface FastifyAuditOptions<C extends Catalog, A extends AuditActor> {
  /** The auditor that stamps and stores records. */
  auditor: Auditor<C>;
  /**
   * Who performed the request, from what the app's authentication left on
   * the request; `null` when nobody is authenticated (then nothing is
   * recorded). Called once the response is ready, so it runs after the app's
   * auth. A throw is reported through `onError` and counts as unauthenticated.
   *
   * @example
   * identify: (request) => request.user ?? null
   */
  identify: (request: FastifyRequest, reply: FastifyReply) => A | null | undefined | Promise<A | null | undefined>;
  /** The business unit of a request. Default: the `app-id` header. Overridden by an actor's own `app_id`. */
  appId?: (request: FastifyRequest) => string | null | undefined;
  /** The request id. Default: the `x-request-id` header. */
  requestId?: (request: FastifyRequest) => string | null | undefined;
  /** Declarative map from `METHOD /route/:template` to action type, checked against the catalog. */
  routes?: RouteMap<C>;
}

export type FastifyRouterOptions<C extends Catalog, A extends AuditActor> = Omit<AuditApiOptions<C, A>, 'auditor'>;

export interface FastifyAudit<C extends Catalog, A extends AuditActor> {
  /**
   * The plugin that observes every request of the app (it is not
   * encapsulated) and records the audited ones once they are answered: a
   * thrown error or a 4xx/5xx counts as a failure, a client that goes away
   * first as 499. The response of a fail-closed action is held (`onSend`)
   * until its record is stored, and answered 503 if it cannot be.
   *
   * @example
   * await app.register(audit.plugin);
   */
  plugin: FastifyPluginCallback;
  /**
   * A route's config naming its action, checked against the catalog (a typo
   * is a compile error). Fastify knows a route's config before it parses the
   * body, so a request that fails anywhere on an audited route is recorded.
   *
   * @example
   * app.post('/payments/:payment_id/refunds', { config: audit.action('refund', { resourceId: 'payment_id' }) }, refund);
   */
  action(actionType: ActionTypeOf<C>, options?: { resourceId?: FastifyResourceId }): { audit: FastifyAuditRoute<ActionTypeOf<C>> };
  /**
   * The Retrieve Audit Data endpoint as a plugin, to register with a prefix:
   * every request under it goes to core's handler.
   *
   * @example
   * await app.register(audit.router({ authorize: (actor) => actor.role === 'admin' }), { prefix: '/audit' });
   */
  router(options: FastifyRouterOptions<C, A>): FastifyPluginAsync;
}

/** What the kit's hooks receive: Fastify's pair. */
interface Exchange {
  request: FastifyRequest;
  reply: FastifyReply;
}

/** Everything the adapter keeps of one request, in one place. */
/** Everything the adapter keeps of one request, in one object: it is also the `{ request, reply }` pair the kit's hooks receive. */
class RequestState implements Exchange {
  errored = false;
  settled = false;
  constructor(
    readonly request: FastifyRequest,
    readonly reply: FastifyReply,
    readonly context: AuditContext,
    readonly span: ReturnType<typeof activeSpan>,
  ) {}
}

/** Where a request keeps its state: a request decoration (so every request has the same shape), and on Node's response for its `'close'` listener. */
const STATE = Symbol('@audit-trail/fastify:state');
type Stateful = { [STATE]?: RequestState | null };
const stateOf = (request: FastifyRequest): RequestState | null | undefined => (request as unknown as Stateful)[STATE];

/**
 * Audit trail for Fastify 5.
 *
 * @example
 * const audit = fastifyAudit({ auditor, identify: (request) => request.user ?? null });
 * await app.register(audit.plugin);
 * app.post('/payments/:payment_id/refunds', { config: audit.action('refund', { resourceId: 'payment_id' }) }, refund);
 * await app.register(audit.router({ authorize: (actor) => actor.role === 'admin' }), { prefix: '/audit' });
 */
export function fastifyAudit<const C extends Catalog, A extends AuditActor = AuditActor>(options: FastifyAuditOptions<C, A>): FastifyAudit<C, A> {
  checkAdapterOptions('fastifyAudit', options, ['appId', 'requestId']);
  const { identify, appId, requestId } = options;
  const kit = createAdapterKit<C, Exchange, A>(
    { auditor: options.auditor, ...(options.routes ? { routes: options.routes } : {}) },
    {
      identify: ({ request, reply }) => identify(request, reply),
      appId: appId ? ({ request }) => appId(request) : ({ request }) => headerValue(request.headers, 'app-id'),
      requestId: requestId ? ({ request }) => requestId(request) : ({ request }) => headerValue(request.headers, 'x-request-id'),
      ip: ({ request }) => request.ip,
    },
  );
  /** Route configs checked once, when the route is registered. */
  const declarations = new WeakMap<FastifyAuditRoute, ActionDeclaration<Exchange>>();
  const declare = (route: FastifyAuditRoute): ActionDeclaration<Exchange> => {
    let declaration = declarations.get(route);
    if (!declaration) {
      const source = route.resourceId;
      declaration = kit.declareAction(route.action as ActionTypeOf<C>, {
        ...(source === undefined ? {} : { resourceId: typeof source === 'function' ? ({ request, reply }: Exchange) => source(request, reply) : source }),
      });
      declarations.set(route, declaration);
    }
    return declaration;
  };

  const factsOf = (state: RequestState, status: number, aborted: boolean): RequestFacts => {
    const { request } = state;
    return {
      method: request.method,
      path: pathOfUrl(`http://host${request.url}`),
      route: state.context.route,
      ip: null,
      user_agent: headerValue(request.headers, 'user-agent'),
      request_id: null,
      trace: requestTrace(request.headers, state.span),
      status,
      aborted,
      error: state.errored,
      completed_at: new Date(),
    };
  };

  const settle = (state: RequestState, status: number, aborted: boolean): void => {
    if (state.settled) return;
    state.settled = true;
    void kit.record(state, state.context, factsOf(state, status, aborted));
  };

  const onResponseClose = function onResponseClose(this: FastifyReply['raw']): void {
    const state = (this as unknown as Stateful)[STATE];
    if (state && !this.writableFinished) settle(state, 0, true);
  };

  const plugin: FastifyPluginCallback = (app: FastifyInstance, _options, done) => {
    app.decorateRequest('audit', null as unknown as AuditContext);
    app.decorateRequest(STATE as unknown as string, null);
    app.addHook('onRoute', (route) => {
      const audited = (route.config as { audit?: FastifyAuditRoute } | undefined)?.audit;
      if (audited !== undefined) declare(audited);
    });
    app.addHook('onRequest', (request, reply, next) => {
      const path = pathOfUrl(`http://host${request.url}`);
      const context = kit.enter(request.method, path);
      const state = new RequestState(request, reply, context, activeSpan());
      (request as unknown as Stateful)[STATE] = state;
      request.audit = context;
      const audited = request.routeOptions.config?.audit;
      if (audited) {
        const template = request.routeOptions.url;
        kit.applyAction(context, declare(audited), {
          route: typeof template === 'string' ? trimTrailingSlash(template) : null,
          path,
          param: (request.params as Record<string, string | undefined> | undefined) ?? {},
        });
      }
      // 'close' before the response finished: the client went away (499). One listener, the same function for every request.
      (reply.raw as unknown as Stateful)[STATE] = state;
      reply.raw.on('close', onResponseClose);
      next();
    });
    app.addHook('onError', (request, _reply, _error, next) => {
      const state = stateOf(request);
      if (state) state.errored = true;
      next();
    });
    app.addHook('onSend', async (request, reply, payload) => {
      const state = stateOf(request);
      if (!state || state.context.action === null) return payload;
      if (state.span?.isRecording()) kit.addEvent(state, state.context, { ...factsOf(state, reply.statusCode, false), ip: request.ip, span: state.span });
      if (!kit.isRequired(state.context)) return payload;
      // Fail-closed: the response leaves once its record is stored; a 503 otherwise (recorded on onResponse).
      if (await kit.recordDurably(state, state.context, factsOf(state, reply.statusCode, false))) {
        state.settled = true;
        return payload;
      }
      for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
      reply.code(REQUIRED_RECORD_UNAVAILABLE.status).header('content-type', JSON_CONTENT_TYPE);
      return REQUIRED_RECORD_UNAVAILABLE_BODY;
    });
    app.addHook('onResponse', (request, reply, next) => {
      const state = stateOf(request);
      if (state) settle(state, reply.statusCode, false);
      next();
    });
    done();
  };
  // Not encapsulated (what fastify-plugin does): the hooks see every route of the app.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'audit-trail' });

  const action: FastifyAudit<C, A>['action'] = (actionType, actionOptions = {}) => {
    const route: FastifyAuditRoute<ActionTypeOf<C>> = { action: actionType, ...(actionOptions?.resourceId === undefined ? {} : { resourceId: actionOptions.resourceId }) };
    declare(route);
    return { audit: route };
  };

  const router = (routerOptions: FastifyRouterOptions<C, A>): FastifyPluginAsync => {
    const read = kit.readHandler<A>(routerOptions);
    return async function auditRouter(app) {
      const base = app.prefix;
      const serve = async (request: FastifyRequest, reply: FastifyReply) => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(request.headers)) {
          if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        const url = `${request.protocol}://${request.host}${request.url}`;
        const response = await read({ request, reply }, new Request(url, { method: request.method, headers }), {
          base,
          path: pathOfUrl(url).slice(base.length),
        });
        if (!response) return reply.callNotFound();
        reply.code(response.status);
        response.headers.forEach((value, name) => void reply.header(name, value));
        // Streamed as the client reads: an export of millions of records holds one page at a time.
        return reply.send(response.body ? Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>) : undefined);
      };
      app.all('/', serve);
      app.all('/*', serve);
    };
  };

  return { plugin, action, router };
}
