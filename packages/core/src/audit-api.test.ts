import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createAuditApi, type AuditApi, type AuditApiContext, type AuditPage } from './audit-api.ts';
import { createAuditor, type AuditActor, type Auditor } from './auditor.ts';
import { paymentsOsCatalog, type PaymentsOsActionType } from './catalog.ts';
import { AuditError } from './errors.ts';
import { memoryStore } from './memory-store.ts';
import type { AuditRecord } from './record.ts';
import type { Store, StoreQuery } from './store.ts';

type Actor = AuditActor & { role: 'admin' | 'operator' };

const alice: Actor = { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_acme', role: 'admin' };
const bob: Actor = { user: { id: 'usr_bob', email: 'bob@example.com' }, account_id: 'acc_acme', role: 'operator' };
const carol: Actor = { user: { id: 'usr_carol', email: 'carol@example.org' }, account_id: 'acc_globex', role: 'admin' };
const dave: Actor = { user: { id: 'usr_dave', email: null }, account_id: null, role: 'admin' };

const SECRET = 'audit-api-test-cursor-secret-0123456789';
const TRACE = { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' };
const ERROR_KEYS = ['category', 'description', 'more_info'];

let appended: AuditRecord[];
let queries: StoreQuery[];
let gets: [string, string][];
let failReads: boolean;
let errors: AuditError[];
let auditor: Auditor<typeof paymentsOsCatalog>;
let authorize: ReturnType<typeof vi.fn<(actor: Actor, request: Request) => boolean | Promise<boolean>>>;
let api: AuditApi<Actor>;

beforeEach(() => {
  appended = [];
  queries = [];
  gets = [];
  failReads = false;
  errors = [];
  const inner = memoryStore();
  const store: Store = {
    async append(records) {
      await inner.append(records);
      appended.push(...records);
    },
    async query(query) {
      queries.push(structuredClone(query));
      if (failReads) throw new Error('connection refused');
      return inner.query(query);
    },
    async get(accountId, id) {
      gets.push([accountId, id]);
      if (failReads) throw new Error('connection refused');
      return inner.get(accountId, id);
    },
    close: () => inner.close(),
  };
  auditor = createAuditor({ store, onError: (e) => errors.push(e), flushIntervalMs: 1 });
  authorize = vi.fn((actor: Actor) => actor.role === 'admin');
  api = createAuditApi({ auditor, authorize, cursorSecret: SECRET });
});

let clock = Date.parse('2020-01-01T00:00:00.000Z');
/** Records an action in the past (before any read), one millisecond after the previous unless `sameTime`. */
function seed(actor: Actor, action: PaymentsOsActionType, extra: { sameTime?: boolean; resource_id?: string; status_code?: number; app_id?: string } = {}): AuditRecord {
  if (!extra.sameTime) clock += 1;
  return auditor.record({
    action_type: action,
    user: actor.user,
    account_id: actor.account_id,
    app_id: extra.app_id ?? null,
    resource_id: extra.resource_id ?? 'pay_1',
    status_code: extra.status_code ?? 200,
    completed_at: new Date(clock),
  });
}

interface Call {
  response: Response;
  body: any;
}

/** Calls the endpoint as the adapters do, then waits until the read itself is recorded. */
async function call(path: string, actor: Actor | null, context: Partial<AuditApiContext<Actor>> = {}, headers: HeadersInit = {}): Promise<Call> {
  const request = new Request(new URL(path, 'http://audit.test'), { headers });
  const response = await api.handle(request, { actor, route: context.id === undefined ? '/audit' : '/audit/:id', ...context });
  const body = await response.json();
  await auditor.flush();
  return { response, body };
}

const reads = () => appended.filter((r) => r.action_type === 'retrieve_audit_data');
const newestFirst = (records: AuditRecord[]) =>
  [...records].sort((a, b) => (a.created !== b.created ? (a.created < b.created ? 1 : -1) : a.id < b.id ? 1 : -1));

function expectErrorBody(result: Call, status: number, category: string, moreInfo: string) {
  expect(result.response.status).toBe(status);
  expect(result.response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(result.response.headers.get('cache-control')).toBe('no-store');
  expect(Object.keys(result.body).sort()).toEqual(ERROR_KEYS);
  expect(result.body).toEqual({ category, description: expect.any(String), more_info: moreInfo });
  expect(result.body.description.length).toBeGreaterThan(0);
}

describe('createAuditApi: configuration', () => {
  it('requires an auditor and an authorize hook', () => {
    expect(() => createAuditApi({ authorize: () => true } as never)).toThrow(TypeError);
    expect(() => createAuditApi({ auditor } as never)).toThrow(/authorize/);
  });

  it('rejects a short cursor secret', () => {
    expect(() => createAuditApi({ auditor, authorize: () => true, cursorSecret: 'short' })).toThrow(TypeError);
  });
});

describe('authentication and authorization', () => {
  it('answers 401 without an actor, and records nothing', async () => {
    seed(alice, 'refund');
    await auditor.flush();
    const before = auditor.stats();
    const result = await call('/audit', null);
    expectErrorBody(result, 401, 'api_authentication_error', 'authorization');
    const one = await call('/audit/aud_x', null, { id: 'aud_x' });
    expectErrorBody(one, 401, 'api_authentication_error', 'authorization');
    expect(auditor.stats()).toEqual(before);
    expect(reads()).toEqual([]);
    expect(authorize).not.toHaveBeenCalled();
    expect(queries).toEqual([]);
  });

  it('answers 403 when authorize says no, and records the refusal', async () => {
    const result = await call('/audit?limit=5', bob);
    expectErrorBody(result, 403, 'api_authorization_error', 'authorization');
    expect(authorize).toHaveBeenCalledTimes(1);
    expect(authorize.mock.calls[0]![0]).toBe(bob);
    expect(authorize.mock.calls[0]![1]).toBeInstanceOf(Request);
    expect(queries).toEqual([]);
    expect(reads()).toEqual([
      expect.objectContaining({
        action_type: 'retrieve_audit_data',
        resource: 'audit',
        resource_id: null,
        user: { id: 'usr_bob', email: 'bob@example.com' },
        account_id: 'acc_acme',
        outcome: 'failure',
        status_code: 403,
        request: expect.objectContaining({ method: 'GET', path: '/audit', route: '/audit' }),
      }),
    ]);
  });

  it('answers 403 for one record too, recording its id', async () => {
    const record = seed(alice, 'refund');
    await auditor.flush();
    const result = await call(`/audit/${record.id}`, bob, { id: record.id });
    expectErrorBody(result, 403, 'api_authorization_error', 'authorization');
    expect(gets).toEqual([]);
    expect(reads()).toEqual([expect.objectContaining({ resource_id: record.id, status_code: 403, outcome: 'failure' })]);
  });

  it.each([
    ['throws', () => { throw new Error('roles service down'); }],
    ['rejects', () => Promise.reject(new Error('roles service down'))],
  ])('answers 403 when authorize %s, reports hook_failed and records the refusal', async (_name, hook) => {
    authorize.mockImplementation(hook as never);
    const result = await call('/audit', alice);
    expectErrorBody(result, 403, 'api_authorization_error', 'authorization');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'hook_failed' });
    expect((errors[0]!.cause as Error).message).toBe('roles service down');
    expect(queries).toEqual([]);
    expect(reads()).toEqual([expect.objectContaining({ user: expect.objectContaining({ id: 'usr_alice' }), status_code: 403 })]);
  });

  it('allows only an authorize that answers exactly true', async () => {
    authorize.mockImplementation((() => 'yes') as never);
    expect((await call('/audit', alice)).response.status).toBe(403);
    authorize.mockImplementation(async () => true);
    expect((await call('/audit', alice)).response.status).toBe(200);
  });

  it('answers 403 to an actor without an account, and records it', async () => {
    const result = await call('/audit', dave);
    expectErrorBody(result, 403, 'api_authorization_error', 'authorization');
    expect(queries).toEqual([]);
    expect(reads()).toEqual([expect.objectContaining({ user: { id: 'usr_dave', email: null }, account_id: null, status_code: 403 })]);
  });
});

describe('GET /audit', () => {
  it('lists the account newest first, with no next page when all fit', async () => {
    const seeded = [seed(alice, 'refund'), seed(alice, 'void'), seed(bob, 'capture'), seed(alice, 'get_payment')];
    await auditor.flush();
    const result = await call('/audit', alice);
    expect(result.response.status).toBe(200);
    expect(result.response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(result.response.headers.get('link')).toBeNull();
    expect(result.body).toEqual({ data: newestFirst(seeded), next_cursor: null } satisfies AuditPage);
    expect(queries).toEqual([{ accountId: 'acc_acme', filter: {}, order: 'desc', limit: 51, after: null }]);
  });

  it('pages with next_cursor and a Link header, never repeating or skipping a record', async () => {
    const seeded = [
      seed(alice, 'refund'),
      seed(alice, 'refund'),
      seed(alice, 'refund', { sameTime: true }),
      seed(alice, 'refund', { sameTime: true }),
      seed(bob, 'refund'),
      seed(alice, 'refund'),
      seed(alice, 'refund', { sameTime: true }),
    ];
    seed(alice, 'void');
    seed(carol, 'refund');
    await auditor.flush();
    const seen: AuditRecord[] = [];
    let url: string | null = '/audit?action_type=refund&limit=3';
    const pageSizes: number[] = [];
    while (url) {
      const result = await call(url, alice);
      expect(result.response.status).toBe(200);
      const page = result.body as AuditPage;
      pageSizes.push(page.data.length);
      seen.push(...page.data);
      const link = result.response.headers.get('link');
      if (page.next_cursor === null) {
        expect(link).toBeNull();
        url = null;
      } else {
        const match = /^<([^>]+)>; rel="next"$/.exec(link ?? '');
        expect(match).not.toBeNull();
        const next = new URL(match![1]!);
        expect(next.origin).toBe('http://audit.test');
        expect(next.pathname).toBe('/audit');
        expect(next.searchParams.get('cursor')).toBe(page.next_cursor);
        expect(next.searchParams.get('action_type')).toBe('refund');
        expect(next.searchParams.get('limit')).toBe('3');
        url = next.pathname + next.search;
      }
    }
    expect(pageSizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(newestFirst(seeded));
    expect(new Set(seen.map((r) => r.id)).size).toBe(seeded.length);
  });

  it('has no next page when the last page is exactly full', async () => {
    for (let i = 0; i < 4; i++) seed(alice, 'refund');
    await auditor.flush();
    const first = await call('/audit?action_type=refund&limit=2', alice);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await call(`/audit?action_type=refund&limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`, alice);
    expect(second.body.data).toHaveLength(2);
    expect(second.body.next_cursor).toBeNull();
    expect(second.response.headers.get('link')).toBeNull();
  });

  it('pages oldest first with order=asc', async () => {
    const seeded = Array.from({ length: 5 }, () => seed(alice, 'refund'));
    await auditor.flush();
    const first = await call('/audit?action_type=refund&order=asc&limit=2', alice);
    const second = await call(`/audit?action_type=refund&order=asc&limit=2&cursor=${first.body.next_cursor}`, alice);
    const third = await call(`/audit?action_type=refund&order=asc&limit=2&cursor=${second.body.next_cursor}`, alice);
    expect([...first.body.data, ...second.body.data, ...third.body.data]).toEqual(seeded);
    expect(third.body.next_cursor).toBeNull();
  });

  it('neither repeats nor skips while new records arrive', async () => {
    const old = Array.from({ length: 5 }, () => seed(alice, 'refund'));
    await auditor.flush();
    const first = await call('/audit?action_type=refund&limit=2', alice);
    // Newer records arrive between pages.
    for (let i = 0; i < 3; i++) auditor.record({ action_type: 'refund', user: alice.user, account_id: 'acc_acme' });
    await auditor.flush();
    const second = await call(`/audit?action_type=refund&limit=2&cursor=${first.body.next_cursor}`, alice);
    const third = await call(`/audit?action_type=refund&limit=2&cursor=${second.body.next_cursor}`, alice);
    expect([...first.body.data, ...second.body.data, ...third.body.data]).toEqual(newestFirst(old));
    expect(third.body.next_cursor).toBeNull();
  });

  it('passes every filter to the store, scoped to the account', async () => {
    const match = seed(alice, 'void', { app_id: 'app_1', status_code: 500 });
    seed(alice, 'void', { app_id: 'app_2', status_code: 500 });
    seed(alice, 'refund', { app_id: 'app_1', status_code: 200 });
    await auditor.flush();
    const result = await call(
      '/audit?action_type=refund,void&action_type=void&resource=payment&resource_id=pay_1&user_id=usr_alice' +
        '&user_email=alice%40example.com&app_id=app_1&outcome=failure&from=2019-12-31T23:00:00-01:00&to=2030-01-01T00:00:00Z&order=asc&limit=10',
      alice,
    );
    expect(result.response.status).toBe(200);
    expect(queries).toEqual([
      {
        accountId: 'acc_acme',
        filter: {
          actionTypes: ['refund', 'void'],
          resource: 'payment',
          resourceId: 'pay_1',
          userId: 'usr_alice',
          userEmail: 'alice@example.com',
          appId: 'app_1',
          outcome: 'failure',
          from: '2020-01-01T00:00:00.000Z',
          to: '2030-01-01T00:00:00.000Z',
        },
        order: 'asc',
        limit: 11,
        after: null,
      },
    ]);
    expect(result.body.data).toEqual([match]);
  });

  it('passes the position of a cursor to the store', async () => {
    const seeded = Array.from({ length: 3 }, () => seed(alice, 'refund'));
    await auditor.flush();
    const first = await call('/audit?action_type=refund&limit=1', alice);
    await call(`/audit?action_type=refund&limit=1&cursor=${first.body.next_cursor}`, alice);
    const newest = seeded[2]!;
    expect(queries[1]!.after).toEqual({ created: newest.created, id: newest.id });
  });
});

describe('account scoping', () => {
  it('never shows records of another account', async () => {
    const acme = [seed(alice, 'refund'), seed(bob, 'void')];
    const globex = [seed(carol, 'refund'), seed(carol, 'capture')];
    await auditor.flush();
    const asAlice = await call('/audit?action_type=refund,void,capture', alice);
    const asCarol = await call('/audit?action_type=refund,void,capture', carol);
    expect(asAlice.body.data).toEqual(newestFirst(acme));
    expect(asCarol.body.data).toEqual(newestFirst(globex));
    // Reads are recorded in the reader's account and stay there too.
    const all = await call('/audit', carol);
    expect(all.body.data.length).toBeGreaterThan(0);
    expect(all.body.data.every((r: AuditRecord) => r.account_id === 'acc_globex')).toBe(true);
  });

  it('rejects a cursor issued to another account', async () => {
    for (let i = 0; i < 3; i++) seed(carol, 'refund');
    await auditor.flush();
    const carolsPage = await call('/audit?limit=1', carol);
    expect(carolsPage.body.next_cursor).toEqual(expect.any(String));
    const result = await call(`/audit?limit=1&cursor=${carolsPage.body.next_cursor}`, alice);
    expectErrorBody(result, 400, 'api_request_error', 'cursor');
  });
});

describe('GET /audit/:id', () => {
  it('answers one record of the account, and records the read with its id', async () => {
    const record = seed(alice, 'refund');
    await auditor.flush();
    const result = await call(`/audit/${record.id}`, alice, { id: record.id });
    expect(result.response.status).toBe(200);
    expect(result.body).toEqual(record);
    expect(gets).toEqual([['acc_acme', record.id]]);
    expect(reads()).toEqual([
      expect.objectContaining({
        resource: 'audit',
        resource_id: record.id,
        outcome: 'success',
        status_code: 200,
        request: expect.objectContaining({ method: 'GET', path: `/audit/${record.id}`, route: '/audit/:id' }),
        details: {},
      }),
    ]);
  });

  it("answers 404 for another account's record, and records it", async () => {
    const theirs = seed(carol, 'refund');
    await auditor.flush();
    const result = await call(`/audit/${theirs.id}`, alice, { id: theirs.id });
    expectErrorBody(result, 404, 'api_request_error', 'id');
    expect(JSON.stringify(result.body)).not.toContain('usr_carol');
    expect(reads()).toEqual([expect.objectContaining({ resource_id: theirs.id, status_code: 404, outcome: 'failure', account_id: 'acc_acme' })]);
  });

  it('answers 404 for an unknown id, and for an absurdly long one without asking the store', async () => {
    expectErrorBody(await call('/audit/aud_nope', alice, { id: 'aud_nope' }), 404, 'api_request_error', 'id');
    const long = 'a'.repeat(300);
    expectErrorBody(await call(`/audit/${long}`, alice, { id: long }), 404, 'api_request_error', 'id');
    expect(gets).toEqual([['acc_acme', 'aud_nope']]);
  });
});

describe('bad requests', () => {
  it.each([
    ['/audit?limit=0', 'limit'],
    ['/audit?limit=501', 'limit'],
    ['/audit?actor=usr_bob', 'actor'],
    ['/audit?action_type=refnd', 'action_type'],
    ['/audit?from=2026-11-27T10:00:00', 'from'],
    ['/audit?order=sideways', 'order'],
    ['/audit?cursor=garbage', 'cursor'],
    ['/audit?limit=1&limit=2', 'limit'],
  ])('answers 400 for %s naming %s, and records it as a failure', async (path, parameter) => {
    const result = await call(path, alice);
    expectErrorBody(result, 400, 'api_request_error', parameter);
    expect(queries).toEqual([]);
    expect(reads()).toEqual([expect.objectContaining({ outcome: 'failure', status_code: 400, user: expect.objectContaining({ id: 'usr_alice' }) })]);
  });
});

describe('store failures', () => {
  it('answers 503 when the store cannot list, reports it and records it', async () => {
    failReads = true;
    const result = await call('/audit', alice);
    expectErrorBody(result, 503, 'api_error', 'store');
    expect(JSON.stringify(result.body)).not.toContain('connection refused');
    expect(errors.map((e) => e.code)).toEqual(['store_failed']);
    expect((errors[0]!.cause as Error).message).toBe('connection refused');
    expect(reads()).toEqual([expect.objectContaining({ outcome: 'failure', status_code: 503 })]);
  });

  it('answers 503 when the store cannot get one record', async () => {
    failReads = true;
    const result = await call('/audit/aud_1', alice, { id: 'aud_1' });
    expectErrorBody(result, 503, 'api_error', 'store');
    expect(errors.map((e) => e.code)).toEqual(['store_failed']);
    expect(reads()).toEqual([expect.objectContaining({ resource_id: 'aud_1', status_code: 503 })]);
  });
});

describe('the record of a read', () => {
  it('holds what is known of the request', async () => {
    await call('/audit?limit=5&action_type=refund', alice, { ip: '10.0.0.1', request_id: 'req_ctx' }, {
      'user-agent': 'audit-cli/1.0',
      traceparent: `00-${TRACE.trace_id}-${TRACE.span_id}-01`,
    });
    expect(reads()).toEqual([
      {
        id: expect.stringMatching(/^aud_/),
        created: expect.any(String),
        action_type: 'retrieve_audit_data',
        resource: 'audit',
        resource_id: null,
        user: { id: 'usr_alice', email: 'alice@example.com' },
        account_id: 'acc_acme',
        app_id: null,
        outcome: 'success',
        status_code: 200,
        request: { method: 'GET', path: '/audit', route: '/audit', ip: '10.0.0.1', user_agent: 'audit-cli/1.0', request_id: 'req_ctx' },
        trace: TRACE,
        details: { parameters: { limit: '5', action_type: 'refund' } },
        changes: null,
      },
    ]);
  });

  it('takes the request id from x-request-id and the trace from the context when given', async () => {
    const trace = { trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) };
    await call('/audit', alice, { trace }, { 'x-request-id': 'req_hdr', traceparent: `00-${TRACE.trace_id}-${TRACE.span_id}-01` });
    await call('/audit', alice, { trace: null }, { traceparent: `00-${TRACE.trace_id}-${TRACE.span_id}-01` });
    expect(reads().map((r) => [r.request.request_id, r.trace])).toEqual([
      ['req_hdr', trace],
      [null, null],
    ]);
  });

  it('records every read of an authenticated caller, and only those', async () => {
    const record = seed(alice, 'refund');
    await auditor.flush();
    await call('/audit', alice);
    await call(`/audit/${record.id}`, alice, { id: record.id });
    await call('/audit', bob);
    await call('/audit?limit=abc', alice);
    await call('/audit', null);
    await call('/audit', dave);
    expect(reads().map((r) => [r.user.id, r.status_code])).toEqual([
      ['usr_alice', 200],
      ['usr_alice', 200],
      ['usr_bob', 403],
      ['usr_alice', 400],
      ['usr_dave', 403],
    ]);
  });

  it('still answers when the auditor is closed, reporting the lost record', async () => {
    await auditor.close();
    errors = [];
    const result = await api.handle(new Request('http://audit.test/audit'), { actor: alice });
    // The store is closed too, so the read itself fails: what matters is an answer, not a throw.
    expect([200, 503]).toContain(result.status);
    await auditor.flush(); // drops are reported in aggregate
    expect(errors.map((e) => e.code)).toContain('closed');
  });
});
