import { DemoError } from '@audit-trail/example-shared';
import { createMiddleware } from 'hono/factory';

/** What `express.json({ limit: '100kb' })` accepts, so that both examples answer alike. */
export const BODY_LIMIT = 100 * 1024;

export type BodyVariables = {
  /** The parsed JSON body; `undefined` when the request has no JSON body (as `req.body` in Express). */
  body: unknown;
};

const FIRST_CHAR = /^[\x20\x09\x0a\x0d]*([^\x20\x09\x0a\x0d])/;

function bodyError(status: number): DemoError {
  return new DemoError(status, {
    category: 'api_request_error',
    description: status === 413 ? 'the request body is too large' : 'the request body is not valid JSON',
    more_info: 'body',
  });
}

function hasBody(request: Request): boolean {
  const length = request.headers.get('content-length');
  if (request.headers.get('transfer-encoding') !== null) return true;
  if (length !== null) return length.trim() !== '' && !Number.isNaN(Number(length));
  return request.body !== null;
}

async function readLimited(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > BODY_LIMIT) {
        await reader.cancel().catch(() => {});
        throw bodyError(413);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof DemoError) throw error;
    // A body that cannot be read or inflated is a bad request, as in body-parser.
    throw bodyError(400);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * Parses JSON request bodies the way `express.json({ limit: '100kb' })` does:
 * only `application/json`, UTF charsets (else 415), identity/gzip/deflate
 * encodings (else 415), at most 100 kB (else 413), an empty body is `{}`, and
 * only an object or array is JSON (else 400).
 */
export const jsonBody = createMiddleware<{ Variables: BodyVariables }>(async function jsonBody(c, next) {
  const request = c.req.raw;
  const type = request.headers.get('content-type');
  const [mime = '', ...parameters] = (type ?? '').split(';').map((part) => part.trim());
  if (mime.toLowerCase() !== 'application/json' || !hasBody(request)) {
    c.set('body', undefined);
    return next();
  }
  const charsetParameter = parameters.find((p) => p.toLowerCase().startsWith('charset='));
  const charset = (charsetParameter?.slice('charset='.length).replace(/^"|"$/g, '') ?? 'utf-8').toLowerCase();
  if (!charset.startsWith('utf-')) throw bodyError(415);
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset);
  } catch {
    throw bodyError(415);
  }
  const encoding = (request.headers.get('content-encoding') ?? 'identity').toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') throw bodyError(415);
  const length = Number(request.headers.get('content-length') ?? Number.NaN);
  if (encoding === 'identity' && length > BODY_LIMIT) throw bodyError(413);

  let stream = request.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
  if (encoding !== 'identity') stream = stream.pipeThrough(new DecompressionStream(encoding) as ReadableWritablePair<Uint8Array, Uint8Array>);
  const text = decoder.decode(await readLimited(stream));
  if (text.length === 0) {
    c.set('body', {});
    return next();
  }
  const first = FIRST_CHAR.exec(text)?.[1];
  if (first !== '{' && first !== '[') throw bodyError(400);
  try {
    c.set('body', JSON.parse(text));
  } catch {
    throw bodyError(400);
  }
  return next();
});
