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

/** A route of the map, compiled once: what matching a request needs, nothing built per request. */
export interface CompiledRoute {
  readonly method: string;
  /** The template, e.g. `/payments/:payment_id`. */
  readonly template: string;
  readonly action: string;
  /** The parameter holding the resource id, or `null`. */
  readonly resourceId: string | null;
  /** Each segment: a static one (folded when matching ignores case) or a parameter's name after `:`. */
  readonly segments: readonly string[];
  readonly isParam: readonly boolean[];
  /** The segment index of the `resourceId` parameter, or `-1`. */
  readonly resourceIndex: number;
  readonly statics: number;
}

/** Finds the route of a request, allocating nothing; `resourceIdOf` then reads its resource id. */
export interface RouteLookup {
  find(method: string, path: string): CompiledRoute | null;
  /** The resource id of a request `find` matched to `route`, percent-decoded; `null` when the route names none. */
  resourceIdOf(route: CompiledRoute, path: string): string | null;
  /** Every parameter of a matched request, percent-decoded. */
  paramsOf(route: CompiledRoute, path: string): Record<string, string>;
}

const SLASH = 47;

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment.length > 0);
}

/** How many non-empty segments `path` has (what `splitPath(path).length` would say). */
function countSegments(path: string): number {
  let count = 0;
  let inSegment = false;
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) === SLASH) inSegment = false;
    else if (!inSegment) {
      inSegment = true;
      count++;
    }
  }
  return count;
}

/** Where the non-empty segment starting at or after `from` begins. */
function segmentStart(path: string, from: number): number {
  let at = from;
  while (at < path.length && path.charCodeAt(at) === SLASH) at++;
  return at;
}

function segmentEnd(path: string, start: number): number {
  const end = path.indexOf('/', start);
  return end < 0 ? path.length : end;
}

function decodeParam(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** `path[start, end)` equals `want`, ASCII letters compared without case (`want` is lower-case); other text through `toLowerCase`. */
function equalsFolded(path: string, start: number, end: number, want: string): boolean {
  let j = 0;
  for (let i = start; i < end; i++, j++) {
    let code = path.charCodeAt(i);
    // Beyond ASCII, lower-casing may change the length: compare as the folding function would.
    if (code >= 128) return path.slice(start, end).toLowerCase() === want;
    if (code >= 65 && code <= 90) code |= 0x20;
    if (j >= want.length || want.charCodeAt(j) !== code) return false;
  }
  return j === want.length;
}

/** The value of segment `index` of a path that matched a route. */
function segmentAt(path: string, index: number): string {
  let start = segmentStart(path, 0);
  for (let i = 0; i < index; i++) start = segmentStart(path, segmentEnd(path, start));
  return path.slice(start, segmentEnd(path, start));
}

/**
 * Validates a route map against its catalog and compiles it into a lookup
 * that matches requests without building anything (no `split`, no params
 * object). Static segments win over parameters when two templates match.
 * Throws a `TypeError` naming the entry for a malformed key, an action type
 * that is not in the catalog, or a `resourceId` that is not a parameter.
 */
export function compileRouteLookup<C extends Catalog>(map: RouteMap<C>, catalog: C, options: RouteMapOptions = {}): RouteLookup {
  const caseSensitive = options.caseSensitive !== false;
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
    const isParam = segments.map((segment) => segment.startsWith(':'));
    routes.push({
      method,
      template: `/${segments.join('/')}`,
      action,
      resourceId,
      segments: segments.map((segment, i) => (isParam[i] ? segment.slice(1) : caseSensitive ? segment : segment.toLowerCase())),
      isParam,
      resourceIndex: resourceId === null ? -1 : segments.indexOf(`:${resourceId}`),
      statics: isParam.filter((param) => !param).length,
    });
  }
  // Stable: among routes with as many static segments, the map's order decides.
  routes.sort((a, b) => b.statics - a.statics);
  const byMethod = new Map<string, CompiledRoute[]>();
  for (const method of HTTP_METHODS) {
    // HEAD requests are served by GET routes, as in Express and Hono.
    const served = routes.filter((route) => route.method === method || (method === 'HEAD' && route.method === 'GET'));
    if (served.length > 0) byMethod.set(method, served);
  }

  const matches = (route: CompiledRoute, path: string): boolean => {
    let start = 0;
    for (let i = 0; i < route.segments.length; i++) {
      start = segmentStart(path, start);
      const end = segmentEnd(path, start);
      if (!route.isParam[i]) {
        const want = route.segments[i]!;
        if (caseSensitive ? end - start !== want.length || !path.startsWith(want, start) : !equalsFolded(path, start, end, want)) return false;
      }
      start = end;
    }
    return true;
  };

  return {
    find(method, path) {
      const candidates = byMethod.get(method) ?? byMethod.get(method.toUpperCase());
      if (!candidates) return null;
      const count = countSegments(path);
      for (const route of candidates) {
        if (route.segments.length === count && matches(route, path)) return route;
      }
      return null;
    },
    resourceIdOf: (route, path) => (route.resourceIndex < 0 ? null : decodeParam(segmentAt(path, route.resourceIndex))),
    paramsOf(route, path) {
      const params: Record<string, string> = {};
      for (let i = 0; i < route.segments.length; i++) if (route.isParam[i]) params[route.segments[i]!] = decodeParam(segmentAt(path, i));
      return params;
    },
  };
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
  const lookup = compileRouteLookup(map, catalog, options);
  return (method, path) => {
    const route = lookup.find(method, path);
    if (!route) return null;
    return {
      action_type: route.action as ActionTypeOf<C>,
      route: route.template,
      params: lookup.paramsOf(route, path),
      resource_id: lookup.resourceIdOf(route, path),
    };
  };
}
