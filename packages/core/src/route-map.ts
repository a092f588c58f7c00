import { isActionType, type ActionTypeOf, type Catalog } from './catalog.ts';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** A route map key: a method, one space and a path template such as `/payments/:payment_id`. */
export type RouteKey = `${HttpMethod} /${string}`;

/** What a route does: its action type and where its resource id comes from. */
export interface RouteAction<A extends string = string> {
  action: A;
  /** The route parameter that holds the resource id (e.g. `payment_id`). */
  resourceId?: string;
}

/**
 * A declarative map from `METHOD /route/:template` to action type. Values are
 * checked against the catalog at compile time.
 *
 * @example
 * const routes = {
 *   'POST /payments': 'create_payment',
 *   'POST /payments/:payment_id/refunds': { action: 'refund', resourceId: 'payment_id' },
 * } satisfies RouteMap<PaymentsOsCatalog>;
 */
export type RouteMap<C extends Catalog> = {
  readonly [key: RouteKey]: ActionTypeOf<C> | RouteAction<ActionTypeOf<C>>;
};

/** A request matched against a route map. */
export interface RouteMatch<A extends string = string> {
  action_type: A;
  /** The template that matched, e.g. `/payments/:payment_id`. */
  route: string;
  params: Record<string, string>;
  /** The value of the route's `resourceId` parameter, or `null`. */
  resource_id: string | null;
}

export interface RouteMapOptions {
  /**
   * Whether static path segments match only in the same case. Default `true`,
   * as in Hono; Express routes ignore case unless its `case sensitive routing`
   * setting is on, and its adapter matches the same way.
   */
  caseSensitive?: boolean;
}

/** Finds the action of a request, or `null` when the map does not name one. */
export type RouteMatcher<A extends string = string> = (method: string, path: string) => RouteMatch<A> | null;

interface CompiledRoute {
  method: string;
  template: string;
  segments: string[];
  statics: number;
  action: string;
  resourceId: string | null;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment.length > 0);
}

/**
 * Validates a route map against its catalog and compiles it into a matcher.
 * Static segments win over parameters when two templates match.
 * Throws a `TypeError` naming the entry for a malformed key, an action type
 * that is not in the catalog, or a `resourceId` that is not a parameter.
 */
export function compileRouteMap<C extends Catalog>(
  map: RouteMap<C>,
  catalog: C,
  options: RouteMapOptions = {},
): RouteMatcher<ActionTypeOf<C>> {
  const fold = options.caseSensitive === false ? (text: string) => text.toLowerCase() : (text: string) => text;
  const routes: CompiledRoute[] = [];
  for (const [key, value] of Object.entries(map) as [string, string | RouteAction][]) {
    const space = key.indexOf(' ');
    const method = key.slice(0, space).toUpperCase();
    const template = key.slice(space + 1);
    if (space < 0 || !(HTTP_METHODS as readonly string[]).includes(method) || !template.startsWith('/')) {
      throw new TypeError(`routes: "${key}" must be "METHOD /path", e.g. "POST /payments/:payment_id/refunds"`);
    }
    const action = typeof value === 'string' ? value : value?.action;
    if (!isActionType(catalog, action)) {
      throw new TypeError(`routes: "${key}" names action type "${String(action)}", which is not in the catalog`);
    }
    const segments = splitPath(template);
    const resourceId = typeof value === 'string' ? null : (value.resourceId ?? null);
    if (resourceId !== null && !segments.includes(`:${resourceId}`)) {
      throw new TypeError(`routes: "${key}" takes its resourceId from ":${resourceId}", which is not in the path`);
    }
    routes.push({
      method,
      template: `/${segments.join('/')}`,
      segments: segments.map((segment) => (segment.startsWith(':') ? segment : fold(segment))),
      statics: segments.filter((s) => !s.startsWith(':')).length,
      action,
      resourceId,
    });
  }
  routes.sort((a, b) => b.statics - a.statics);

  return (method, path) => {
    const upper = method.toUpperCase();
    const parts = splitPath(path);
    for (const route of routes) {
      // HEAD requests are served by GET routes, as in Express and Hono.
      if (route.method !== upper && !(upper === 'HEAD' && route.method === 'GET')) continue;
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const want = route.segments[i]!;
        const got = parts[i]!;
        if (want.startsWith(':')) {
          try {
            params[want.slice(1)] = decodeURIComponent(got);
          } catch {
            params[want.slice(1)] = got;
          }
        } else ok = want === fold(got);
      }
      if (!ok) continue;
      return {
        action_type: route.action as ActionTypeOf<C>,
        route: route.template,
        params,
        resource_id: route.resourceId === null ? null : (params[route.resourceId] ?? null),
      };
    }
    return null;
  };
}
