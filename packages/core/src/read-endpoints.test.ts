import { describe, expect, it } from 'vitest';
import { createAuditApi, endpointRoute, matchAuditEndpoint } from './audit-api.ts';
import { createAuditor, type AuditActor } from './auditor.ts';
import { paymentsOsCatalog } from './catalog.ts';
import { CSV_HEADER } from './csv.ts';
import type { AuditError } from './errors.ts';
import { memoryStore } from './memory-store.ts';
import type { AuditRecord } from './record.ts';
import type { Store, StoreQuery } from './store.ts';
import { VIEWER_CSP } from './viewer/page.ts';

// GET <mount>/export, /stats, /openapi.json and /ui through core's handler.

const alice: AuditActor & { role: string } = { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_acme', role: 'admin' };

function record(i: number, overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    id: `aud_${String(i).padStart(6, '0')}`,
    created: new Date(Date.parse('2026-11-01T00:00:00.000Z') + i * 60_000).toISOString(),
    action_type: 'refund',
    resource: 'payment',
    resource_id: `pay_${i}`,
    user: { id: 'usr_alice', email: 'alice@example.com' },
    account_id: 'acc_acme',
    app_id: null,
    outcome: i % 3 === 0 ? 'failure' : 'success',
    status_code: i % 3 === 0 ? 500 : 201,
    request: { method: 'POST', path: '/p', route: '/p', ip: null, user_agent: null, request_id: null },
    trace: null,
    details: {},
    changes: null,
    ...overrides,
  };
}

async function setup(options: { count?: number; failAfter?: number; viewer?: false | { title?: string; askForToken?: boolean; stylesheet?: string } } = {}) {
  const inner = memoryStore();
  await inner.append(Array.from({ length: options.count ?? 0 }, (_, i) => record(i)));
  const queries: StoreQuery[] = [];
  const store: Store = {
    append: (records) => inner.append(records),
    async query(query) {
      queries.push(query);
      if (options.failAfter !== undefined && queries.length > options.failAfter) throw new Error('connection reset');
      return inner.query(query);
    },
    get: (accountId, id) => inner.get(accountId, id),
    close: () => inner.close(),
  };
  const errors: AuditError[] = [];
  const auditor = createAuditor({ store, catalog: paymentsOsCatalog, onError: (e) => errors.push(e), flushIntervalMs: 1 });
  const api = createAuditApi({ auditor, authorize: () => true, ...(options.viewer === undefined ? {} : { viewer: options.viewer }) });
  const call = (path: string, init: RequestInit = {}) => {
    const url = new URL(`http://app.test/audit${path}`);
    const endpoint = matchAuditEndpoint(url.pathname.slice('/audit'.length))!;
    return api.handle(new Request(url, init), { actor: alice, endpoint, base: '/audit', route: `/audit${endpointRoute(endpoint)}` });
  };
  return { call, queries, errors, auditor, inner };
}

describe('matchAuditEndpoint', () => {
  it('tells the endpoints under a mount apart', () => {
    expect(matchAuditEndpoint('')).toEqual({ kind: 'list' });
    expect(matchAuditEndpoint('/')).toEqual({ kind: 'list' });
    expect(matchAuditEndpoint('/export')).toEqual({ kind: 'export' });
    expect(matchAuditEndpoint('/stats')).toEqual({ kind: 'stats' });
    expect(matchAuditEndpoint('/openapi.json')).toEqual({ kind: 'openapi' });
    expect(matchAuditEndpoint('/ui')).toEqual({ kind: 'ui', asset: '' });
    expect(matchAuditEndpoint('/ui/')).toEqual({ kind: 'ui', asset: '' });
    expect(matchAuditEndpoint('/ui/viewer.js')).toEqual({ kind: 'ui', asset: 'viewer.js' });
    expect(matchAuditEndpoint('/aud_1%2F2')).toEqual({ kind: 'record', id: 'aud_1/2' });
    expect(matchAuditEndpoint('/a/b')).toBeNull();
    expect(matchAuditEndpoint('/ui/a/b')).toBeNull();
  });
});

describe('GET /audit/export', () => {
  it('streams every record page by page, reading the store only as the client reads', async () => {
    const { call, queries } = await setup({ count: 1234 });
    const response = await call('/export?format=ndjson');
    expect(response.status).toBe(200);
    // Answered after one page: the rest waits for the reader.
    expect(queries).toHaveLength(1);
    const reader = response.body!.getReader();
    await reader.read();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(queries.length).toBeLessThanOrEqual(2);
    const chunks: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    expect(queries).toHaveLength(3);
    expect(queries.every((q) => q.limit === 500)).toBe(true);
    const rest = new TextDecoder().decode(Buffer.concat(chunks)).trim().split('\n');
    expect(rest).toHaveLength(1234 - 500);
    const last = JSON.parse(rest.at(-1)!) as AuditRecord;
    expect(last.id).toBe('aud_000000');
  });

  it('writes every record once, in order, as CSV with the header first', async () => {
    const { call } = await setup({ count: 1001 });
    const text = await (await call('/export?order=asc')).text();
    const lines = text.split('\r\n');
    expect(lines.pop()).toBe('');
    expect(`${lines[0]}\r\n`).toBe(CSV_HEADER);
    const ids = lines.slice(1).map((line) => line.split(',')[0]);
    expect(ids).toEqual(Array.from({ length: 1001 }, (_, i) => `aud_${String(i).padStart(6, '0')}`));
  });

  it('answers 503 when the first page cannot be read, and ends the download with an error (reported) when a later one fails', async () => {
    const down = await setup({ count: 10, failAfter: 0 });
    expect((await down.call('/export')).status).toBe(503);
    const later = await setup({ count: 1200, failAfter: 1 });
    const response = await later.call('/export');
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
    expect(later.errors.map((e) => e.code)).toContain('store_failed');
  });

  it('answers HEAD with the headers and no body, and records the read', async () => {
    const { call, auditor, inner } = await setup({ count: 3 });
    const response = await call('/export', { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toMatch(/^attachment;/);
    expect(response.body).toBeNull();
    await auditor.flush();
    const reads = await inner.query({ accountId: 'acc_acme', filter: { actionTypes: ['retrieve_audit_data'] }, order: 'desc', limit: 5 });
    expect(reads.map((r) => [r.request.method, r.request.route, r.status_code])).toEqual([['HEAD', '/audit/export', 200]]);
  });
});

describe('GET /audit/stats', () => {
  it('counts through query when the store has no stats, and answers 503 when the store fails', async () => {
    const { call } = await setup({ count: 180 });
    const res = await call('/stats?from=2026-11-01T00:00:00Z&to=2026-11-01T04:00:00Z');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.buckets.map((b: { count: number }) => b.count)).toEqual([60, 60, 60, 0]);
    expect(body.buckets.map((b: { failures: number }) => b.failures)).toEqual([20, 20, 20, 0]);
    const down = await setup({ count: 1, failAfter: 0 });
    expect((await down.call('/stats')).status).toBe(503);
  });
});

describe('GET /audit/ui', () => {
  it('serves the page with a CSP and no data, and its two files; 404 for anything else', async () => {
    const { call, queries } = await setup({ count: 3, viewer: { title: 'Acme "audit" <log>', askForToken: true, stylesheet: '/brand.css' } });
    const page = await call('/ui');
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toBe(VIEWER_CSP);
    const html = await page.text();
    expect(html).toContain('<title>Acme &quot;audit&quot; &lt;log&gt;</title>');
    expect(html).toContain('data-api="/audit"');
    expect(html).toContain('data-token="ask"');
    expect(html).toContain('<script type="module" src="/audit/ui/viewer.js"></script>');
    expect(html).toContain('<link rel="stylesheet" href="/brand.css">');
    expect(html).not.toContain('aud_0');
    expect(queries).toEqual([]);
    expect((await call('/ui/')).status).toBe(200);
    expect((await call('/ui/viewer.css')).headers.get('content-type')).toMatch(/^text\/css/);
    expect((await call('/ui/index.html')).status).toBe(404);
    expect((await call('/ui/secrets.json')).status).toBe(404);
  });

  it('serves no viewer with viewer: false', async () => {
    const { call } = await setup({ viewer: false });
    expect((await call('/ui')).status).toBe(404);
    expect((await call('/ui/viewer.js')).status).toBe(404);
  });
});
