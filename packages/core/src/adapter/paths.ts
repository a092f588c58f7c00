/** Request headers as Node parses them (`IncomingMessage.headers`) or as a Web `Headers`. */
export type HeaderSource = Headers | Readonly<Record<string, string | string[] | undefined>>;

/**
 * A request header: the first value when Node parsed several, `null` when
 * absent. `name` must be lower-case, as Node keys its headers.
 */
export function headerValue(headers: HeaderSource, name: string): string | null {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

/** A route template without its trailing slash: `/customers/` is `/customers`, `/` stays `/`. */
export function trimTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** A mount point and a path below it: `/audit` + `/` is `/audit`; `` + `/` is `/`. */
export function joinRoute(base: string, path: string): string {
  return trimTrailingSlash(`${trimTrailingSlash(base)}${path}`) || '/';
}

/** The path as the client sent it (not percent-decoded), without the query string, from a full URL. */
export function pathOfUrl(url: string): string {
  const start = url.indexOf('/', url.indexOf('://') + 3);
  if (start < 0) return '/';
  // One scan for the end, one slice: no intermediate string.
  let end = start;
  while (end < url.length) {
    const code = url.charCodeAt(end);
    if (code === 63 /* ? */ || code === 35 /* # */) break;
    end++;
  }
  return url.slice(start, end);
}

/**
 * The value of the route parameter `name` in `path`, read against the route
 * `template` (`/apps/:app_id/keys`): for adapters that learn the route only
 * after the framework gave up on it (a body parser failed before the handler).
 */
export function templateParam(template: string, path: string, name: string): string | null {
  const want = template.split('/').filter(Boolean);
  const got = path.split('/').filter(Boolean);
  const index = want.indexOf(`:${name}`);
  const raw = index < 0 || want.length !== got.length ? undefined : got[index];
  if (raw === undefined) return null;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
