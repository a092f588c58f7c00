import type { Context, ExecutionContext } from 'hono';

/** The Workers-style execution context, or `null` where the runtime has none (Hono's getter throws then). */
export function executionContextOf(c: Context): ExecutionContext | null {
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
export interface NodeBindings {
  incoming: {
    headers: Readonly<Record<string, string | string[] | undefined>>;
    socket?: { remoteAddress?: string | undefined } | undefined;
  };
  outgoing: {
    readonly writableFinished: boolean;
    on(event: 'close', listener: () => void): unknown;
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
export function nodeBindingsOf(c: Context): NodeBindings | null {
  const env = c.env as Partial<NodeBindings> | undefined;
  const outgoing = env?.outgoing;
  const headers = env?.incoming?.headers;
  return outgoing && typeof outgoing.on === 'function' && typeof outgoing.off === 'function' && headers && typeof headers === 'object'
    ? (env as NodeBindings)
    : null;
}

/**
 * The client's address as the runtime gives it, read the way Hono's
 * `getConnInfo` helpers do but by shape, so that no runtime's module is
 * imported: Node's socket on @hono/node-server, `server.requestIP(request)`
 * on Bun (the server is `c.env`), `remoteAddr` on Deno (`Deno.serve` passes
 * it as `c.env`). `null` where the runtime does not say (Workers, `app.request()`).
 */
export function clientAddress(c: Context): string | null {
  const node = nodeBindingsOf(c);
  if (node) return node.incoming.socket?.remoteAddress ?? null;
  const env = c.env as
    | { requestIP?: (request: Request) => { address?: string } | null; remoteAddr?: { hostname?: string } }
    | undefined;
  if (typeof env?.requestIP === 'function') return env.requestIP(c.req.raw)?.address ?? null;
  const hostname = env?.remoteAddr?.hostname;
  return typeof hostname === 'string' ? hostname : null;
}

/** What is told when the client goes away: an object, so that watching a request creates no closure. */
export interface AbortListener {
  /** The client went away before the response was complete. */
  handleEvent(): void;
}

/** Where Node's response keeps the listener of its request (one shared `'close'` handler reads it). */
const WATCHER = Symbol('@audit-trail/hono:abort');
type WatchedOutgoing = NodeBindings['outgoing'] & { [WATCHER]?: AbortListener };

/** The one `'close'` handler of every watched Node response: `'close'` before it finished means the client went away. */
function onOutgoingClose(this: WatchedOutgoing): void {
  if (!this.writableFinished) this[WATCHER]?.handleEvent();
}

/**
 * Tells `listener` if the client goes away before the response is complete:
 * one `'close'` listener on Node's response (the same function for every
 * request), or the request signal's `abort` elsewhere. The listener may be
 * told after the response was answered; it ignores what comes late.
 */
export function watchAbort(c: Context, node: NodeBindings | null, listener: AbortListener): void {
  if (node) {
    (node.outgoing as WatchedOutgoing)[WATCHER] = listener;
    // `on`, not `once` (which wraps the listener in a closure): Node emits 'close' once per response.
    node.outgoing.on('close', onOutgoingClose);
    return;
  }
  const signal = signalOf(c.req.raw);
  if (!signal) return;
  if (signal.aborted) queueMicrotask(() => listener.handleEvent());
  else signal.addEventListener('abort', listener, { once: true });
}
