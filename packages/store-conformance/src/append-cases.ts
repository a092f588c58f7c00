import { type AuditRecord } from '@audit-trail/core';
import { newRecordId, UNKNOWN_REQUEST } from '@audit-trail/core/store';
import { expect } from 'vitest';
import type { CaseBody, ConformanceCase } from './cases.ts';
import { appendReversed, idsOf, instant, newAccountId, queryAll, sorted } from './fixtures.ts';
import { sampleRecord } from './sample-record.ts';

/** Records that exercise every field: text beyond ASCII, nested JSON, and every nullable field both null and set. */
function roundTripRecords(accountId: string): AuditRecord[] {
  const everyFieldSet = sampleRecord({
    account_id: accountId,
    created: instant(0),
    action_type: 'update_webhook_configuration',
    resource: 'webhook_configuration',
    resource_id: 'wh_ünïcödé_日本語_🧾',
    user: { id: 'usr_ålice', email: 'zoë+audit@exämple.com' },
    app_id: 'app_ø',
    outcome: 'success',
    status_code: 200,
    request: {
      method: 'PATCH',
      path: '/webhooks/wh_%F0%9F%A7%BE',
      route: '/webhooks/:webhook_id',
      ip: '2001:db8::1',
      user_agent: 'Mozilla/5.0 "quoted" \\ back\\slash\ttab',
      request_id: "req_'; DROP TABLE audit; --",
    },
    trace: { trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331' },
    details: {
      text: 'línea 1\nlínea 2 — “quotes” \'single\' \\ 🧾 العربية',
      numbers: [0, 1, -7, 3.25, 0.1, 1200, 9007199254740991],
      flags: { on: true, off: false, none: null },
      nested: { list: [{ a: 1 }, [], {}, ['x', null, false]], empty: {} },
      '': '',
    },
    changes: {
      url: { from: 'https://a.example/hook', to: 'https://b.example/hook' },
      'retry.max_attempts': { from: 3, to: 5 },
      'events.2': { from: null, to: 'payment.refunded' },
      description: { from: 'línea 1\n“quoted” 🧾', to: null },
      filters: { from: null, to: { nested: [1, 0.1, true, null, {}] } },
      'key\\.with\\.dots': { from: false, to: true },
      secret: { from: '[REDACTED]', to: '[REDACTED]' },
    },
  });
  const everyNullableNull = sampleRecord({
    account_id: accountId,
    created: instant(1),
    action_type: 'activate_account',
    resource: 'activations',
    resource_id: null,
    user: { id: 'usr_system', email: null },
    app_id: null,
    outcome: 'failure',
    status_code: null,
    request: { ...UNKNOWN_REQUEST },
    trace: null,
    details: {},
    changes: null,
  });
  const aborted = sampleRecord({
    account_id: accountId,
    created: '1999-12-31T23:59:59.999Z',
    outcome: 'failure',
    status_code: 499,
    request: { route: null, ip: null, user_agent: '' },
    trace: null,
    details: { reason: 'client closed the connection', retries: 0 },
    // Recorded, nothing changed: not the same as null.
    changes: {},
  });
  return [everyFieldSet, everyNullableNull, aborted];
}

export const appendCases = {
  'append then get and query return the record unchanged': async ({ store }) => {
    const account = newAccountId();
    const records = roundTripRecords(account);
    await store.append(records);
    for (const record of records) {
      expect(await store.get(account, record.id)).toEqual(record);
    }
    expect(await queryAll(store, account, 'asc')).toEqual(sorted(records, 'asc'));
    expect(await queryAll(store, account, 'desc')).toEqual(sorted(records, 'desc'));
  },

  'get returns null for an unknown id': async ({ store }) => {
    const account = newAccountId();
    const record = sampleRecord({ account_id: account });
    await store.append([record]);
    expect(await store.get(account, newRecordId())).toBeNull();
    expect(await store.get(account, record.id.slice(0, -1))).toBeNull();
    expect(await store.get(account, `${record.id}0`)).toBeNull();
    expect(await store.get(account, record.id)).toEqual(record);
  },

  'get returns null for a record of another account': async ({ store }) => {
    const [account, other] = [newAccountId(), newAccountId()];
    const mine = sampleRecord({ account_id: account });
    const theirs = sampleRecord({ account_id: other });
    await store.append([mine, theirs]);
    expect(await store.get(other, mine.id)).toBeNull();
    expect(await store.get(account, theirs.id)).toBeNull();
    expect(await store.get(account, mine.id)).toEqual(mine);
    expect(await store.get(other, theirs.id)).toEqual(theirs);
  },

  'append ignores a record whose id is already stored': async ({ store }) => {
    const [account, other] = [newAccountId(), newAccountId()];
    const first = sampleRecord({ account_id: account, created: instant(0), details: { version: 1 } });
    await store.append([first]);

    // A retried batch: the stored record again, changed, next to a new one.
    const changed: AuditRecord = { ...first, created: instant(5), outcome: 'failure', status_code: 500, details: { version: 2 } };
    const fresh = sampleRecord({ account_id: account, created: instant(1) });
    await store.append([changed, fresh]);
    await store.append([first]);
    // The id is taken in every account, not only in the first one's.
    await store.append([{ ...first, account_id: other }]);

    expect(await store.get(account, first.id)).toEqual(first);
    expect(await store.get(account, fresh.id)).toEqual(fresh);
    expect(idsOf(await queryAll(store, account, 'desc'))).toEqual([fresh.id, first.id]);
    expect(await store.get(other, first.id)).toBeNull();
    expect(await queryAll(store, other, 'desc')).toEqual([]);
  },

  'append accepts an empty batch': async ({ store }) => {
    const account = newAccountId();
    await store.append([]);
    expect(await queryAll(store, account, 'desc')).toEqual([]);
    const record = sampleRecord({ account_id: account });
    await store.append([record]);
    await store.append([]);
    expect(await queryAll(store, account, 'desc')).toEqual([record]);
  },

  'append stores a batch of 1000 records whole': async ({ store }) => {
    const account = newAccountId();
    // Four records per millisecond, so the batch holds ties too.
    const records = Array.from({ length: 1000 }, (_, i) =>
      sampleRecord({ account_id: account, created: instant(Math.floor(i / 4)), details: { index: i } }),
    );
    await store.append([...records].reverse());
    expect(idsOf(await store.query({ accountId: account, filter: {}, order: 'desc', limit: 1000 }))).toEqual(
      idsOf(sorted(records, 'desc')),
    );
    expect(idsOf(await store.query({ accountId: account, filter: {}, order: 'asc', limit: 1001 }))).toEqual(
      idsOf(sorted(records, 'asc')),
    );
    expect(await store.get(account, records[0]!.id)).toEqual(records[0]);
    expect(await store.get(account, records[999]!.id)).toEqual(records[999]);
  },

  'concurrent appends are all stored': async ({ store }) => {
    const account = newAccountId();
    // 20 batches of 50, interleaved in time, so that each batch lands among the others.
    const batches = Array.from({ length: 20 }, (_, batch) =>
      Array.from({ length: 50 }, (_, i) => sampleRecord({ account_id: account, created: instant(i * 20 + batch) })),
    );
    await Promise.all(batches.map((batch) => store.append(batch)));
    const records = batches.flat();
    expect(idsOf(await queryAll(store, account, 'desc'))).toEqual(idsOf(sorted(records, 'desc')));
  },

  'concurrent appends of one batch store it once': async ({ store }) => {
    const account = newAccountId();
    const batch = Array.from({ length: 50 }, (_, i) => sampleRecord({ account_id: account, created: instant(i) }));
    // A batch retried while the first attempt is still in flight.
    await Promise.all([store.append(batch), store.append(batch), store.append([...batch].reverse())]);
    expect(idsOf(await queryAll(store, account, 'asc'))).toEqual(idsOf(sorted(batch, 'asc')));
  },

  'close resolves': async ({ store, close }) => {
    const account = newAccountId();
    const records = [0, 1].map((ms) => sampleRecord({ account_id: account, created: instant(ms) }));
    await appendReversed(store, records);
    expect(idsOf(await queryAll(store, account, 'asc'))).toEqual(idsOf(records));
    await close();
  },
} satisfies Partial<Record<ConformanceCase, CaseBody>>;
