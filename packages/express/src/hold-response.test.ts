import { createServer, request, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { holdResponse, type HeldResponse } from './hold-response.ts';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

/** Serves one request with `handle`, holding the response; resolves the held response and, later, what the client got. */
async function serve(handle: (res: ServerResponse) => void) {
  let onHeld!: (held: HeldResponse & { status: number }) => void;
  const held = new Promise<HeldResponse & { status: number }>((resolve) => (onHeld = resolve));
  let received = false;
  const server = createServer((_req, res) => {
    holdResponse(res, (h) => onHeld({ ...h, status: res.statusCode }));
    handle(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  close = () => new Promise((resolve) => server.close(() => resolve()));
  const { port } = server.address() as AddressInfo;
  const answer = new Promise<Answer>((resolve, reject) => {
    request({ port, host: '127.0.0.1', path: '/' }, (res) => {
      received = true;
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
  return { held, answer, received: () => received };
}

describe('holdResponse', () => {
  it('sends nothing until released, then the head, every chunk and the end as written', async () => {
    const { held, answer, received } = await serve((res) => {
      res.writeHead(201, { 'x-kind': 'created' });
      res.write('a');
      res.write(Buffer.from('b'));
      res.end('c');
    });
    const response = await held;
    expect(response.status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(received()).toBe(false);
    response.release();
    expect(await answer).toMatchObject({ status: 201, headers: { 'x-kind': 'created' }, body: 'abc' });
  });

  it('replaces what the handler wrote, headers included', async () => {
    const { held, answer } = await serve((res) => {
      res.setHeader('x-secret', 'yes');
      res.statusCode = 200;
      res.end('{"done":true}');
    });
    (await held).replace(503, 'application/json; charset=utf-8', '{"category":"api_error"}');
    const got = await answer;
    expect(got.status).toBe(503);
    expect(got.headers['x-secret']).toBeUndefined();
    expect(got.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(got.body).toBe('{"category":"api_error"}');
  });

  it('calls write and end callbacks, and end() without a body releases an empty response', async () => {
    const calls: string[] = [];
    const { held, answer } = await serve((res) => {
      res.statusCode = 204;
      res.write('', () => calls.push('write'));
      res.end(() => calls.push('end'));
    });
    const response = await held;
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(calls).toEqual(['write']);
    response.release();
    expect(await answer).toMatchObject({ status: 204, body: '' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(calls).toEqual(['write', 'end']);
  });
});
