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
  return outgoing && typeof outgoing.once === 'function' && typeof outgoing.off === 'function' && headers && typeof headers === 'object'
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

/**
 * Calls `onAbort` if the client goes away before the response is complete;
 * returns the function that stops watching.
 */
export function watchAbort(c: Context, node: NodeBindings | null, onAbort: () => void): () => void {
  if (node) {
    const { outgoing } = node;
    const onClose = () => {
      if (!outgoing.writableFinished) onAbort();
    };
    outgoing.once('close', onClose);
    return () => outgoing.off('close', onClose);
  }
  const signal = signalOf(c.req.raw);
  if (!signal) return () => {};
  if (signal.aborted) {
    queueMicrotask(onAbort);
    return () => {};
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}
