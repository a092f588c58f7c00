import type { AuditRecord } from '@audit-trail/core';
import request from 'supertest';
import type { ExampleServer } from './apps.ts';

export const TOKENS = { alice: 'demo-alice', bob: 'demo-bob', carol: 'demo-carol' } as const;
export type DemoName = keyof typeof TOKENS;

/** An HTTP client of a running example, as one of the demo users. */
export function client(server: ExampleServer, who?: DemoName, headers: Record<string, string> = {}) {
  const auth = who ? { authorization: `Bearer ${TOKENS[who]}` } : {};
  const send = (method: 'get' | 'post' | 'patch' | 'delete', path: string, body?: unknown) => {
    let req = request(server.url)[method](path).set({ ...auth, ...headers });
    if (body !== undefined) req = req.send(body as object);
    return req;
  };
  return {
    get: (path: string) => send('get', path),
    post: (path: string, body: unknown = {}) => send('post', path, body),
    patch: (path: string, body: unknown = {}) => send('patch', path, body),
    delete: (path: string) => send('delete', path),
  };
}

/** Reads the audit trail as `who` (after the pending writes landed). */
export async function readAudit(server: ExampleServer, who: DemoName, query = ''): Promise<{ status: number; data: AuditRecord[]; next_cursor: string | null; link: string | undefined; body: any }> {
  await server.auditor.flush();
  const res = await client(server, who).get(`/audit${query ? `?${query}` : ''}`);
  return { status: res.status, data: res.body.data, next_cursor: res.body.next_cursor, link: res.headers.link, body: res.body };
}

/** All records of `who`'s account matching `query`, following cursors. */
export async function readAll(server: ExampleServer, who: DemoName, query = ''): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const params = new URLSearchParams(query);
    params.set('limit', params.get('limit') ?? '500');
    if (cursor) params.set('cursor', cursor);
    const page = await readAudit(server, who, params.toString());
    if (page.status !== 200) throw new Error(`GET /audit answered ${page.status}: ${JSON.stringify(page.body)}`);
    out.push(...page.data);
    cursor = page.next_cursor;
    if (!cursor) return out;
  }
  throw new Error('too many pages');
}

/** The contract's error body: exactly category, description, more_info. */
export function expectError(body: unknown, category: string, moreInfo?: string): void {
  const b = body as Record<string, unknown>;
  if (Object.keys(b).sort().join() !== 'category,description,more_info') {
    throw new Error(`not a contract error body: ${JSON.stringify(body)}`);
  }
  if (b.category !== category) throw new Error(`category ${String(b.category)}, expected ${category}`);
  if (typeof b.description !== 'string' || b.description.length === 0) throw new Error('empty description');
  if (moreInfo !== undefined && b.more_info !== moreInfo) throw new Error(`more_info ${String(b.more_info)}, expected ${moreInfo}`);
}
