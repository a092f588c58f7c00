import { type AuditRecord, type Store } from '@audit-trail/core';
import { ORDERS, type KeysetPosition, type Order, type StoreFilter, type StoreQuery } from '@audit-trail/core/store';
import { expect } from 'vitest';
import { sampleRecord } from './sample-record.ts';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const DAY = 24 * 60 * MINUTE;

/** Room to spare for "every record" queries; no case stores this many in one account. */
const ALL = 5000;

const BASE_TIME = Date.UTC(2026, 10, 27, 10, 0, 0, 0);

/**
 * A fresh account id. Cases share whatever the store already holds, so each
 * works in accounts of its own and never needs the store to be empty.
 */
export function newAccountId(): string {
  return `acc_conformance_${crypto.randomUUID()}`;
}

/** The instant `ms` milliseconds after the cases' base time, as a record's `created`. */
export function instant(ms: number): string {
  return new Date(BASE_TIME + ms).toISOString();
}

export function idsOf(records: readonly AuditRecord[]): string[] {
  return records.map((record) => record.id);
}

export function positionOf(record: AuditRecord): KeysetPosition {
  return { created: record.created, id: record.id };
}

/**
 * Records in `(created, id)` order. Written out here rather than taken from
 * core, so that the suite does not grade stores with the code they may share.
 */
export function sorted(records: readonly AuditRecord[], order: Order): AuditRecord[] {
  const ascending = [...records].sort((a, b) => {
    if (a.created !== b.created) return a.created < b.created ? -1 : 1;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
  return order === 'asc' ? ascending : ascending.reverse();
}

/**
 * Appends records in reverse order, in batches of `batchSize`. Cases build
 * records in `(created, id)` order; storing them reversed shows whether a
 * store orders ties by id or merely by insertion.
 */
export async function appendReversed(store: Store, records: readonly AuditRecord[], batchSize = 10): Promise<void> {
  const reversed = [...records].reverse();
  for (let i = 0; i < reversed.length; i += batchSize) {
    await store.append(reversed.slice(i, i + batchSize));
  }
}

/** Every record of an account that matches `filter`, in one query. */
export function queryAll(store: Store, accountId: string, order: Order, filter: StoreFilter = {}): Promise<AuditRecord[]> {
  return store.query({ accountId, filter, order, limit: ALL });
}

/** Asserts that `filter` finds exactly `expected` in the account, in both orders. */
export async function expectFound(
  store: Store,
  accountId: string,
  filter: StoreFilter,
  expected: readonly AuditRecord[],
): Promise<void> {
  for (const order of ORDERS) {
    const found = await queryAll(store, accountId, order, filter);
    expect(idsOf(found), `${JSON.stringify(filter)}, ${order}`).toEqual(idsOf(sorted(expected, order)));
  }
}

/** Options of {@link walkPages}. */
interface WalkOptions {
  /** Runs after each non-empty page, before the next one is read. */
  between?: () => Promise<void>;
  /** Fail, instead of looping forever, on a store that ignores `after`. */
  maxPages: number;
}

/**
 * Reads page after page, each `after` the last record of the previous one,
 * until a page comes back empty.
 */
export async function walkPages(
  store: Store,
  query: Omit<StoreQuery, 'after'>,
  { between, maxPages }: WalkOptions,
): Promise<AuditRecord[][]> {
  const pages: AuditRecord[][] = [];
  let after: KeysetPosition | null = null;
  for (;;) {
    const page = await store.query({ ...query, after });
    if (page.length === 0) return pages;
    pages.push(page);
    if (pages.length > maxPages) {
      throw new Error(`paging went on for more than ${maxPages} pages of ${query.limit}: is \`after\` honoured?`);
    }
    after = positionOf(page[page.length - 1]!);
    await between?.();
  }
}

/** Asserts that walking the pages gives `expected` (already in `query.order`), page by page. */
export async function expectPages(
  store: Store,
  query: Omit<StoreQuery, 'after'>,
  expected: readonly AuditRecord[],
): Promise<void> {
  // Room for short pages, so that the comparison below shows them.
  const pages = await walkPages(store, query, { maxPages: expected.length + 1 });
  const expectedPages: string[][] = [];
  for (let i = 0; i < expected.length; i += query.limit) {
    expectedPages.push(idsOf(expected.slice(i, i + query.limit)));
  }
  const label = `${JSON.stringify(query.filter)}, ${query.order}, pages of ${query.limit}`;
  expect(pages.map(idsOf), label).toEqual(expectedPages);
}

const ACTIONS = [
  ['refund', 'payment'],
  ['capture', 'payment'],
  ['create_customer', 'customer'],
  ['create_token', 'token'],
  ['void', 'payment'],
] as const;

const USERS = [
  { id: 'usr_alice', email: 'alice@example.com' },
  { id: 'usr_bob', email: 'bob@example.com' },
  { id: 'usr_carol', email: null },
] as const;

const APPS = ['app_1', 'app_2', null] as const;

/**
 * `count` records of one account (or of none, for `null`) with every
 * filtered field varied, three per minute from the base time so that ties
 * in `created` are everywhere; returned in build order.
 */
export function variedRecords(accountId: string | null, count: number): AuditRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const [action_type, resource] = ACTIONS[i % ACTIONS.length]!;
    const failed = i % 4 === 1;
    return sampleRecord({
      account_id: accountId,
      created: instant(Math.floor(i / 3) * MINUTE),
      action_type,
      resource,
      resource_id: i % 4 === 0 ? null : `res_${i % 3}`,
      user: USERS[i % USERS.length]!,
      app_id: APPS[Math.floor(i / 2) % APPS.length]!,
      outcome: failed ? 'failure' : 'success',
      status_code: failed ? 404 : 200,
      details: { index: i },
    });
  });
}

/** A filter and, written out independently, which records it must find. */
export interface FilterSample {
  filter: StoreFilter;
  matches: (record: AuditRecord) => boolean;
}

/** One sample per filter, and one combining several, over {@link variedRecords}. */
export const FILTER_SAMPLES: readonly FilterSample[] = [
  { filter: {}, matches: () => true },
  {
    filter: { actionTypes: ['refund', 'void'] },
    matches: (r) => r.action_type === 'refund' || r.action_type === 'void',
  },
  { filter: { resource: 'payment' }, matches: (r) => r.resource === 'payment' },
  { filter: { resourceId: 'res_1' }, matches: (r) => r.resource_id === 'res_1' },
  { filter: { userId: 'usr_bob' }, matches: (r) => r.user.id === 'usr_bob' },
  { filter: { userEmail: 'alice@example.com' }, matches: (r) => r.user.email === 'alice@example.com' },
  { filter: { appId: 'app_2' }, matches: (r) => r.app_id === 'app_2' },
  { filter: { outcome: 'failure' }, matches: (r) => r.outcome === 'failure' },
  { filter: { from: instant(4 * MINUTE) }, matches: (r) => r.created >= instant(4 * MINUTE) },
  { filter: { to: instant(6 * MINUTE) }, matches: (r) => r.created < instant(6 * MINUTE) },
  {
    filter: {
      actionTypes: ['refund', 'capture', 'void'],
      outcome: 'success',
      from: instant(2 * MINUTE),
      to: instant(9 * MINUTE),
    },
    matches: (r) =>
      ['refund', 'capture', 'void'].includes(r.action_type) &&
      r.outcome === 'success' &&
      r.created >= instant(2 * MINUTE) &&
      r.created < instant(9 * MINUTE),
  },
];

/** The records of `records` that a sample must find; fails when there are none, so that no check is vacuous. */
export function expectedOf(sample: FilterSample, records: readonly AuditRecord[]): AuditRecord[] {
  const expected = records.filter(sample.matches);
  expect(expected.length, `the test data has records for ${JSON.stringify(sample.filter)}`).toBeGreaterThan(0);
  return expected;
}
