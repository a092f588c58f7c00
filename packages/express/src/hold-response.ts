import type { ServerResponse } from 'node:http';

/** What became of a held response: its record was stored (send it) or not (answer instead). */
export interface HeldResponse {
  /** Sends what the handler wrote, as it wrote it. */
  release(): void;
  /** Drops what the handler wrote and sends this answer instead. */
  replace(status: number, contentType: string, body: string): void;
}

/**
 * Holds what a handler sends on `res` — `writeHead`, `write`, `end` — instead
 * of sending it. Once the handler ends the response, `onEnd` is called with
 * the status it chose and a `HeldResponse` to release or replace, so that a
 * fail-closed action's response leaves only once its record is stored.
 * Nothing reaches the socket before `release` or `replace`.
 */
export function holdResponse(res: ServerResponse, onEnd: (held: HeldResponse) => void): void {
  const { writeHead, write, end } = res;
  const rawWrite = write as unknown as (this: ServerResponse, chunk: unknown, encoding?: BufferEncoding) => boolean;
  const rawEnd = end as unknown as (this: ServerResponse, ...args: unknown[]) => ServerResponse;
  const chunks: [unknown, BufferEncoding | undefined][] = [];
  let head: Parameters<ServerResponse['writeHead']> | null = null;
  const encodingOf = (encoding: unknown) => (typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined);

  res.writeHead = function heldWriteHead(this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
    head = args;
    res.statusCode = args[0];
    return this;
  } as ServerResponse['writeHead'];
  res.write = function heldWrite(chunk: unknown, encoding?: unknown, callback?: unknown) {
    chunks.push([chunk, encodingOf(encoding)]);
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  } as ServerResponse['write'];
  res.end = function heldEnd(chunk?: unknown, encoding?: unknown, callback?: unknown) {
    if (typeof chunk === 'function') callback = chunk;
    else if (chunk !== undefined && chunk !== null) chunks.push([chunk, encodingOf(encoding)]);
    if (typeof encoding === 'function') callback = encoding;
    res.writeHead = writeHead;
    res.write = write;
    res.end = end;
    onEnd({
      release() {
        if (res.destroyed) return;
        if (head) writeHead.apply(res, head);
        for (const [data, enc] of chunks) rawWrite.call(res, data, enc);
        rawEnd.call(res, ...(typeof callback === 'function' ? [callback] : []));
      },
      replace(status, contentType, body) {
        if (res.destroyed) return;
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        res.statusCode = status;
        res.setHeader('content-type', contentType);
        res.setHeader('content-length', Buffer.byteLength(body));
        rawEnd.call(res, body);
      },
    });
    return res;
  } as ServerResponse['end'];
}
