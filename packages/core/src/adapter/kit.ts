import { createAuditApi, endpointRoute, matchAuditEndpoint, type AuditApiOptions } from '../audit-api.ts';
import type { AuditActor, Auditor } from '../auditor.ts';
import type { ActionTypeOf, Catalog } from '../catalog.ts';
import { addRequestEvent, createAuditContext, recordRequest, recordRequestDurably, type AuditContext, type RequestFacts } from '../http.ts';
import { compileRouteMap, type RouteMap, type RouteMatcher } from '../route-map.ts';
import { andThen, runHook, type MaybePromise } from './hooks.ts';
import { joinRoute, templateParam } from './paths.ts';

/**
 * The app's hooks as an adapter hands them to the kit, each taking the
 * adapter's own view of a request (`{ req, res }` in Express, the context in
 * Hono, the request in Fastify). The adapter fills in its defaults (the
 * `app-id` and `x-request-id` headers, its framework's client address).
 */
export interface AdapterHooks<I, A extends AuditActor = AuditActor> {
  /** Who performed the request; `null` when nobody is authenticated (then nothing is recorded). */
  identify(input: I): A | null | undefined | PromiseLike<A | null | undefined>;
  /** The business unit of a request, unless the actor names its own `app_id`. */
  appId(input: I): string | null | undefined;
  /** The request id. */
  requestId(input: I): string | null | undefined;
  /** The client's address. */
  ip(input: I): string | null | undefined;
}

/** Where an action's resource id comes from: a route parameter's name, or a function of the request. */
export type ResourceIdSource<I> = string | ((input: I) => string | null | undefined);

/** What `audit.action(...)` declares for a route, checked against the catalog. */
export interface ActionDeclaration<I = unknown> {
  readonly action: string;
  readonly resourceId: ResourceIdSource<I> | null;
}

/** The options every adapter takes besides its hooks. */
export interface AdapterKitOptions<C extends Catalog> {
  auditor: Auditor<C>;
  /** Declarative map from `METHOD /route/:template` to action type, checked against the catalog. */
  routes?: RouteMap<C>;
  /** Whether the route map's static segments match only in the same case. */
  caseSensitive?: boolean;
}

/** The read endpoint's glue: a Web `Request` in, a `Response` out, or `null` for what is not the endpoint's. */
export type AuditReadHandler<I> = (input: I, request: Request, mount: { base: string; path: string }) => Promise<Response | null>;

/** Everything of auditing a request that is not a framework's lifecycle. */
export interface AdapterKit<C extends Catalog, I, A extends AuditActor = AuditActor> {
  readonly auditor: Auditor<C>;
  /** A fresh audit context for a request, with the action of the route map when it names the request. */
  enter(method: string, path: string): AuditContext;
  /** Checks the arguments of `audit.action(...)` at setup, naming what is wrong. */
  declareAction(actionType: ActionTypeOf<C>, options?: { resourceId?: ResourceIdSource<I> }): ActionDeclaration<I>;
  /**
   * Applies a route's declared action to a request's context: its route
   * template, and its resource id from `param(name)` (the framework's route
   * parameter) or, when that is not at hand, from the path read against the template.
   */
  applyAction(context: AuditContext, declaration: ActionDeclaration<I>, at: { route: string | null; path: string; param?: (name: string) => string | null | undefined }): void;
  /**
   * Whether the request's action was named — by the route map or a route's
   * declaration — so that an adapter looks for a route's declaration only
   * when neither happened (a handler that set `action` to `null` opted out).
   */
  isNamed(context: AuditContext): boolean;
  /** Whether the request's action is fail-closed: its response waits for the record. */
  isRequired(context: AuditContext): boolean;
  /** Who acted, asked once per request (later calls get the same answer); `null` on a throw, reported. */
  actor(input: I, context: AuditContext): MaybePromise<AuditActor | null>;
  /** Runs a resource id function of the action once, now (before a span ends, say). */
  resolveResourceId(input: I, context: AuditContext): MaybePromise<void>;
  /** Completes the facts with the app's hooks (request id, client address, resource id) and resolves who acted. */
  complete(input: I, context: AuditContext, facts: RequestFacts): MaybePromise<AuditActor | null>;
  /** Records a finished request; never throws. Resolves once the record is queued (for `waitUntil`). */
  record(input: I, context: AuditContext, facts: RequestFacts): MaybePromise<void>;
  /** Records a fail-closed request before its response leaves: `false` means answer 503 instead. */
  recordDurably(input: I, context: AuditContext, facts: RequestFacts): Promise<boolean>;
  /** Adds the request's action to `facts.span` now, with the actor as far as it is known. */
  addEvent(input: I, context: AuditContext, facts: RequestFacts): void;
  /** The Retrieve Audit Data endpoint for the adapter's router. */
  readHandler<R extends AuditActor>(options: Omit<AuditApiOptions<C, R>, 'auditor'>): AuditReadHandler<I>;
}

/**
 * Checks the options every adapter takes, naming the adapter and the option:
 * configuration mistakes throw at setup.
 */
export function checkAdapterOptions(adapter: string, options: unknown, hooks: readonly string[] = ['appId', 'requestId', 'ip']): void {
  const given = options as Record<string, unknown> | null | undefined;
  if (!given?.auditor) throw new TypeError(`${adapter}: auditor is required`);
  if (typeof given.identify !== 'function') throw new TypeError(`${adapter}: identify must be a function`);
  for (const hook of hooks) {
    if (given[hook] !== undefined && typeof given[hook] !== 'function') throw new TypeError(`${adapter}: ${hook} must be a function`);
  }
  if (given.routes !== undefined && (given.routes === null || typeof given.routes !== 'object')) {
    throw new TypeError(`${adapter}: routes must be an object mapping "METHOD /path" to an action type`);
  }
}

interface RequestState<I> {
  named: boolean;
  resourceId: ((input: I) => string | null | undefined) | null;
  actor: MaybePromise<AuditActor | null> | undefined;
}

/**
 * Creates the kit an adapter is written against.
 *
 * @example
 * const kit = createAdapterKit(options, { identify: ({ req, res }) => options.identify(req, res), ... });
 */
export function createAdapterKit<const C extends Catalog, I, A extends AuditActor = AuditActor>(
  options: AdapterKitOptions<C>,
  hooks: AdapterHooks<I, A>,
): AdapterKit<C, I, A> {
  const { auditor } = options;
  const match: RouteMatcher | null = options.routes
    ? compileRouteMap(options.routes, auditor.catalog, options.caseSensitive === undefined ? {} : { caseSensitive: options.caseSensitive })
    : null;
  const states = new WeakMap<AuditContext, RequestState<I>>();
  const stateOf = (context: AuditContext): RequestState<I> => {
    let state = states.get(context);
    if (!state) states.set(context, (state = { named: false, resourceId: null, actor: undefined }));
    return state;
  };

  /** identify, then the business unit unless the actor names its own. */
  const resolveActor = (input: I): MaybePromise<AuditActor | null> =>
    andThen(runHook(auditor, 'identify', null, () => hooks.identify(input)), (actor) => {
      if (!actor) return null;
      if (actor.app_id != null) return actor;
      return andThen(runHook(auditor, 'appId', null, () => hooks.appId(input)), (appId) => ({ ...actor, app_id: appId ?? null }));
    });

  const kit: AdapterKit<C, I, A> = {
    auditor,
    enter(method, path) {
      const context = createAuditContext();
      const found = match?.(method, path);
      if (found) {
        context.action = found.action_type;
        context.route = found.route;
        context.resourceId = found.resource_id;
        stateOf(context).named = true;
      }
      return context;
    },
    declareAction(actionType, actionOptions = {}) {
      if (!Object.hasOwn(auditor.catalog, actionType)) {
        throw new TypeError(`audit.action: "${String(actionType)}" is not in the catalog`);
      }
      const resourceId = actionOptions?.resourceId;
      if (resourceId !== undefined && typeof resourceId !== 'string' && typeof resourceId !== 'function') {
        throw new TypeError('audit.action: resourceId must be a route parameter name or a function');
      }
      return Object.freeze({ action: actionType, resourceId: resourceId ?? null });
    },
    applyAction(context, declaration, at) {
      stateOf(context).named = true;
      context.action = declaration.action;
      if (at.route !== null) context.route = at.route;
      const source = declaration.resourceId;
      if (typeof source === 'function') stateOf(context).resourceId = source;
      else if (typeof source === 'string') {
        const value = at.param ? at.param(source) : at.route === null ? null : templateParam(at.route, at.path, source);
        context.resourceId = value ?? null;
      }
    },
    isNamed: (context) => states.get(context)?.named === true,
    isRequired: (context) => context.action !== null && auditor.isRequired(context.action),
    actor(input, context) {
      const state = stateOf(context);
      if (state.actor === undefined) {
        const answer = resolveActor(input);
        state.actor = answer;
        // Kept for a synchronous look later (a span's event and the record share one answer).
        if (answer instanceof Promise) void answer.then((actor) => (state.actor = actor));
      }
      return state.actor;
    },
    resolveResourceId(input, context) {
      const state = stateOf(context);
      const hook = state.resourceId;
      if (!hook) return;
      state.resourceId = null;
      return andThen(runHook(auditor, 'resourceId', null, () => hook(input)), (id) => {
        if (id != null) context.resourceId = String(id);
      });
    },
    complete(input, context, facts) {
      return andThen(runHook(auditor, 'requestId', null, () => hooks.requestId(input)), (requestId) => {
        facts.request_id = requestId ?? null;
        return andThen(runHook(auditor, 'ip', null, () => hooks.ip(input)), (ip) => {
          facts.ip = ip ?? null;
          return andThen(kit.resolveResourceId(input, context), () => kit.actor(input, context));
        });
      });
    },
    record(input, context, facts) {
      if (context.action === null) return;
      return andThen(kit.complete(input, context, facts), (actor) => recordRequest(auditor, context, actor, facts));
    },
    async recordDurably(input, context, facts) {
      return recordRequestDurably(auditor, context, await kit.complete(input, context, facts), facts);
    },
    addEvent(input, context, facts) {
      if (context.action === null || !facts.span?.isRecording()) return;
      const resolved = kit.resolveResourceId(input, context);
      const actor = resolved instanceof Promise ? resolved.then(() => kit.actor(input, context)) : kit.actor(input, context);
      // An async identify's event is added when it answers, if the span is still recording then.
      if (actor instanceof Promise) void actor.then((a) => addRequestEvent(auditor, context, a, facts));
      else addRequestEvent(auditor, context, actor, facts);
    },
    readHandler(routerOptions) {
      const api = createAuditApi({ ...routerOptions, auditor } as AuditApiOptions<C, AuditActor>);
      return async (input, request, mount) => {
        if (request.method !== 'GET' && request.method !== 'HEAD') return null;
        const endpoint = matchAuditEndpoint(mount.path);
        if (!endpoint) return null;
        // The viewer's page and files hold no data: no one is identified for them.
        if (endpoint.kind === 'ui') return api.handle(request, { actor: null, endpoint, base: mount.base });
        const [actor, requestId, ip] = await Promise.all([
          resolveActor(input),
          runHook(auditor, 'requestId', null, () => hooks.requestId(input)),
          runHook(auditor, 'ip', null, () => hooks.ip(input)),
        ]);
        return api.handle(request, {
          actor,
          endpoint,
          base: mount.base,
          route: joinRoute(mount.base, endpointRoute(endpoint)),
          ip: ip ?? null,
          request_id: requestId ?? null,
        });
      };
    },
  };
  return kit;
}

const DECLARED = Symbol.for('@audit-trail/core/adapter:action');

/**
 * Tags a framework handler (the middleware `audit.action()` returns) with
 * the action it declares, so that an adapter can find a route's action even
 * when its framework never reached that handler: a body parser or an
 * authorisation check before it answered first.
 */
export function tagAction<F extends object>(handler: F, declaration: ActionDeclaration<never>): F {
  Object.defineProperty(handler, DECLARED, { value: declaration });
  return handler;
}

/** The action a handler was tagged with by `tagAction`, or `null`. */
export function taggedAction<I>(handler: unknown): ActionDeclaration<I> | null {
  if ((typeof handler !== 'function' && typeof handler !== 'object') || handler === null) return null;
  return ((handler as Record<symbol, unknown>)[DECLARED] as ActionDeclaration<I> | undefined) ?? null;
}
