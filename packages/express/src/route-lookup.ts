import { joinRoute, taggedAction, type ActionDeclaration } from '@audit-trail/core/adapter';

/** What Express 5's router (the `router` package) keeps of a mounted layer, seen only by its shape. */
interface LayerLike {
  match(path: string): false | { params: Record<string, string>; path: string };
  route?: { path: unknown; stack: { handle: unknown }[]; _handlesMethod(method: string): boolean };
  handle?: { stack?: unknown };
}

/** A route that declares its action with `audit.action(...)`, found by path. */
export interface DeclaredRoute<I> {
  declaration: ActionDeclaration<I>;
  route: string | null;
  params: Record<string, string>;
}

/**
 * The route an app's router would have served `method path` with, when that
 * route names its action with `audit.action(...)`: for requests that were
 * answered before the route ran (a body parser or a check before it failed).
 * Descends into mounted routers.
 */
export function declaredRoute<I>(stack: unknown, method: string, path: string, base = ''): DeclaredRoute<I> | null {
  if (!Array.isArray(stack)) return null;
  for (const layer of stack as LayerLike[]) {
    if (typeof layer?.match !== 'function') continue;
    const matched = layer.match(path);
    if (!matched) continue;
    const route = layer.route;
    if (route) {
      if (typeof route._handlesMethod !== 'function' || !route._handlesMethod(method)) continue;
      for (const handler of route.stack) {
        const declaration = taggedAction<I>(handler.handle);
        if (declaration) {
          return { declaration, route: typeof route.path === 'string' ? joinRoute(base, route.path) : null, params: matched.params };
        }
      }
      continue;
    }
    const inner = layer.handle?.stack;
    if (Array.isArray(inner)) {
      const found = declaredRoute<I>(inner, method, path.slice(matched.path.length) || '/', joinRoute(base, matched.path));
      if (found) return found;
    }
  }
  return null;
}
