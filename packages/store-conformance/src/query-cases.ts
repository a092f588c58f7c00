import { type AuditRecord, type Store } from '@audit-trail/core';
import { ORDERS, type StoreFilter } from '@audit-trail/core/store';
import { expect } from 'vitest';
import type { CaseBody, ConformanceCase } from './cases.ts';
import {
  appendReversed,
  DAY,
  expectFound,
  expectPages,
  FILTER_SAMPLES,
  idsOf,
  instant,
  MINUTE,
  newAccountId,
  queryAll,
  SECOND,
  sorted,
  variedRecords,
} from './fixtures.ts';
import { sampleRecord, type SampleRecordOverrides } from './sample-record.ts';

/**
 * Records far and near apart in time (a millisecond up to years, across a
 * century), built and appended out of order, so that neither ids nor
 * insertion follow `created`; within one second they run backwards.
 */
async function storeSpreadRecords(store: Store, accountId: string): Promise<AuditRecord[]> {
  const createds = [
    instant(MINUTE),
    instant(SECOND - 1),
    '1999-12-31T23:59:59.999Z',
    instant(400 * DAY),
    instant(1),
    instant(0),
    '2000-01-01T00:00:00.000Z',
    instant(DAY),
    instant(SECOND),
  ];
  const records = createds.map((created) => sampleRecord({ account_id: accountId, created }));
  await store.append(records.slice(0, 4));
  await store.append(records.slice(4));
  return records;
}

/**
 * A filter case: stores `records` of a fresh account, all differing only in
 * the field under test, then checks each `[filter, expected]` pair in both orders.
 */
async function checkFilter(
  store: Store,
  build: (record: (overrides: SampleRecordOverrides) => AuditRecord) => AuditRecord[],
  checks: (records: AuditRecord[]) => [filter: StoreFilter, expected: AuditRecord[]][],
): Promise<void> {
  const account = newAccountId();
  let minute = 0;
  const records = build((overrides) => sampleRecord({ account_id: account, created: instant(minute++ * MINUTE), ...overrides }));
  await appendReversed(store, records, 3);
  for (const [filter, expected] of checks(records)) {
    await expectFound(store, account, filter, expected);
  }
}

export const queryCases = {
  'query orders newest first in desc': async ({ store }) => {
    const account = newAccountId();
    const records = await storeSpreadRecords(store, account);
    expect(idsOf(await queryAll(store, account, 'desc'))).toEqual(idsOf(sorted(records, 'desc')));
  },

  'query orders oldest first in asc': async ({ store }) => {
    const account = newAccountId();
    const records = await storeSpreadRecords(store, account);
    expect(idsOf(await queryAll(store, account, 'asc'))).toEqual(idsOf(sorted(records, 'asc')));
  },

  'query orders ties in created by id': async ({ store }) => {
    const account = newAccountId();
    const at = (ms: number) => sampleRecord({ account_id: account, created: instant(ms) });
    const records = [
      at(MINUTE - 1),
      ...Array.from({ length: 5 }, () => at(MINUTE)),
      at(MINUTE + 1),
      ...Array.from({ length: 3 }, () => at(2 * MINUTE)),
    ];
    // Reversed, so that insertion order contradicts id order within each tie.
    await appendReversed(store, records, 4);
    for (const order of ORDERS) {
      const expected = sorted(records, order);
      expect(idsOf(await queryAll(store, account, order)), order).toEqual(idsOf(expected));
      await expectPages(store, { accountId: account, filter: {}, order, limit: 2 }, expected);
    }
  },

  'query filters by actionTypes': async ({ store }) => {
    await checkFilter(
      store,
      (record) => [
        record({ action_type: 'refund' }),
        record({ action_type: 'capture' }),
        record({ action_type: 'void' }),
        record({ action_type: 'refund' }),
        record({ action_type: 'Refund' }),
        record({ action_type: 'refund_all' }),
        record({ action_type: 'create_customer', resource: 'customer' }),
      ],
      ([refund1, capture, voided, refund2]) => [
        [{ actionTypes: ['refund'] }, [refund1!, refund2!]],
        [{ actionTypes: ['refund', 'capture'] }, [refund1!, capture!, refund2!]],
        [{ actionTypes: ['capture', 'void'] }, [capture!, voided!]],
        [{ actionTypes: ['get_payment'] }, []],
      ],
    );
  },

  'query filters by resource': async ({ store }) => {
    await checkFilter(
      store,
      (record) => [
        record({ resource: 'payment' }),
        record({ resource: 'payment_method' }),
        record({ resource: 'paymentXmethod' }),
        record({ resource: 'Payment' }),
        record({ resource: 'payment' }),
        record({ resource: 'customer' }),
      ],
      ([payment1, paymentMethod, , , payment2]) => [
        [{ resource: 'payment' }, [payment1!, payment2!]],
        [{ resource: 'payment_method' }, [paymentMethod!]],
        [{ resource: 'pay%' }, []],
      ],
    );
  },

  'query filters by resourceId': async ({ store }) => {
    await checkFilter(
      store,
      (record) => [
        record({ resource_id: 'pay_123' }),
        record({ resource_id: null }),
        record({ resource_id: 'pay_1234' }),
        record({ resource_id: 'payX123' }),
        record({ resource_id: 'PAY_123' }),
        record({ resource_id: 'pay_12' }),
        record({ resource_id: 'pay_123' }),
      ],
      ([first, , , , , short, last]) => [
        [{ resourceId: 'pay_123' }, [first!, last!]],
        [{ resourceId: 'pay_12' }, [short!]],
        [{ resourceId: 'pay_%' }, []],
        [{ resourceId: 'null' }, []],
      ],
    );
  },

  'query filters by userId': async ({ store }) => {
    await checkFilter(
      store,
      (record) => [
        record({ user: { id: 'usr_alice' } }),
        record({ user: { id: 'usr_bob' } }),
        record({ user: { id: 'usr_alice2' } }),
        record({ user: { id: 'usrXalice' } }),
        record({ user: { id: 'USR_ALICE' } }),
        record({ user: { id: 'usr_alice', email: null } }),
      ],
      ([alice1, bob, , , , alice2]) => [
        [{ userId: 'usr_alice' }, [alice1!, alice2!]],
        [{ userId: 'usr_bob' }, [bob!]],
        [{ userId: 'usr_' }, []],
      ],
    );
  },

  'query filters by userEmail': async ({ store }) => {
    await checkFilter(
      store,
      (record) => [
        record({ user: { id: 'usr_alice', email: 'alice@example.com' } }),
        record({ user: { id: 'usr_alice', email: 'Alice@Example.com' } }),
        record({ user: { id: 'usr_alice', email: 'alice@example.co' } }),
        record({ user: { id: 'usr_alice', email: null } }),
        record({ user: { id: 'usr_bob', email: 'bob@example.com' } }),
        record({ user: { id: 'usr_alice_2', email: 'alice@example.com' } }),
      ],
      ([alice1, , , , bob, alice2]) => [
        [{ userEmail: 'alice@example.com' }, [alice1!, alice2!]],
        [{ userEmail: 'bob@example.com' }, [bob!]],
        [{ userEmail: 'alice@example.c_m' }, []],
      ],
    );
  },

  'query filters by appId': async ({ store }) => {
    await checkFilter(
      store,
      (record) => [
        record({ app_id: 'app_1' }),
        record({ app_id: 'app_10' }),
        record({ app_id: 'appX1' }),
        record({ app_id: null }),
        record({ app_id: 'app_2' }),
        record({ app_id: 'app_1' }),
      ],
      ([app1a, , , , app2, app1b]) => [
        [{ appId: 'app_1' }, [app1a!, app1b!]],
        [{ appId: 'app_2' }, [app2!]],
        [{ appId: 'app_3' }, []],
      ],
    );
  },

  'query filters by outcome': async ({ store }) => {
    await checkFilter(
      store,
      (record) => [
        record({ outcome: 'success', status_code: 200 }),
        record({ outcome: 'failure', status_code: 404 }),
        record({ outcome: 'success', status_code: null }),
        record({ outcome: 'failure', status_code: 499 }),
        record({ outcome: 'success', status_code: 302 }),
      ],
      (records) => [
        [{ outcome: 'success' }, records.filter((_, i) => i % 2 === 0)],
        [{ outcome: 'failure' }, records.filter((_, i) => i % 2 === 1)],
      ],
    );
  },

  'query filters by from, inclusive': async ({ store }) => {
    const t = MINUTE;
    await checkFilter(
      store,
      (record) => [
        record({ created: instant(t - 1) }),
        record({ created: instant(t) }),
        record({ created: instant(t) }),
        record({ created: instant(t + 1) }),
        record({ created: instant(t + DAY) }),
      ],
      ([before, at1, at2, after, later]) => [
        [{ from: instant(t) }, [at1!, at2!, after!, later!]],
        [{ from: instant(t + 1) }, [after!, later!]],
        [{ from: instant(t - 1) }, [before!, at1!, at2!, after!, later!]],
        [{ from: instant(t + DAY + 1) }, []],
      ],
    );
  },

  'query filters by to, exclusive': async ({ store }) => {
    const t = MINUTE;
    await checkFilter(
      store,
      (record) => [
        record({ created: instant(0) }),
        record({ created: instant(t - 1) }),
        record({ created: instant(t) }),
        record({ created: instant(t) }),
        record({ created: instant(t + 1) }),
      ],
      ([early, before, at1, at2, after]) => [
        [{ to: instant(t) }, [early!, before!]],
        [{ to: instant(t + 1) }, [early!, before!, at1!, at2!]],
        [{ to: instant(0) }, []],
        // A window of one instant, and an empty one.
        [{ from: instant(t), to: instant(t + 1) }, [at1!, at2!]],
        [{ from: instant(t), to: instant(t) }, []],
        [{ to: instant(t + 2) }, [early!, before!, at1!, at2!, after!]],
      ],
    );
  },

  'query combines filters with AND': async ({ store }) => {
    const t = 10 * MINUTE;
    const matching: SampleRecordOverrides = {
      action_type: 'refund',
      resource: 'payment',
      resource_id: 'pay_1',
      user: { id: 'usr_alice', email: 'alice@example.com' },
      app_id: 'app_1',
      outcome: 'success',
      created: instant(t),
    };
    const filter = {
      actionTypes: ['refund', 'void'],
      resource: 'payment',
      resourceId: 'pay_1',
      userId: 'usr_alice',
      userEmail: 'alice@example.com',
      appId: 'app_1',
      outcome: 'success',
      from: instant(t),
      to: instant(t + MINUTE),
    } as const;
    await checkFilter(
      store,
      (record) => [
        record(matching),
        record({ ...matching, created: instant(t + MINUTE - 1) }),
        // Each of these fails exactly one filter.
        record({ ...matching, action_type: 'capture' }),
        record({ ...matching, resource: 'customer' }),
        record({ ...matching, resource_id: 'pay_2' }),
        record({ ...matching, user: { id: 'usr_bob', email: 'alice@example.com' } }),
        record({ ...matching, user: { id: 'usr_alice', email: 'bob@example.com' } }),
        record({ ...matching, app_id: 'app_2' }),
        record({ ...matching, outcome: 'failure', status_code: 500 }),
        record({ ...matching, created: instant(t - 1) }),
        record({ ...matching, created: instant(t + MINUTE) }),
      ],
      ([first, second]) => [
        [filter, [first!, second!]],
        [{ ...filter, actionTypes: ['void'] }, []],
      ],
    );
  },

  'query returns at most limit records': async ({ store }) => {
    const account = newAccountId();
    const records = Array.from({ length: 10 }, (_, i) =>
      sampleRecord({ account_id: account, created: instant(i * SECOND), outcome: i % 2 ? 'failure' : 'success' }),
    );
    await appendReversed(store, records, 4);
    const failures = records.filter((record) => record.outcome === 'failure');
    for (const order of ORDERS) {
      const all = sorted(records, order);
      for (const limit of [1, 3, 10, 11, 500]) {
        const page = await store.query({ accountId: account, filter: {}, order, limit });
        expect(idsOf(page), `${order}, limit ${limit}`).toEqual(idsOf(all.slice(0, limit)));
      }
      // The limit applies to matching records, not to the records scanned.
      const page = await store.query({ accountId: account, filter: { outcome: 'failure' }, order, limit: 3 });
      expect(idsOf(page), `${order}, failures, limit 3`).toEqual(idsOf(sorted(failures, order).slice(0, 3)));
    }
  },

  'query returns nothing for an account without records': async ({ store }) => {
    const [account, empty] = [newAccountId(), newAccountId()];
    const records = variedRecords(account, 12);
    await store.append(records);
    for (const order of ORDERS) {
      for (const { filter } of FILTER_SAMPLES) {
        expect(await queryAll(store, empty, order, filter), `${JSON.stringify(filter)}, ${order}`).toEqual([]);
      }
      const after = { created: records[5]!.created, id: records[5]!.id };
      expect(await store.query({ accountId: empty, filter: {}, order, limit: 10, after })).toEqual([]);
    }
    expect(await store.get(empty, records[0]!.id)).toBeNull();
  },
} satisfies Partial<Record<ConformanceCase, CaseBody>>;
