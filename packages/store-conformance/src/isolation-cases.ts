import { type AuditRecord } from '@audit-trail/core';
import { ORDERS } from '@audit-trail/core/store';
import { expect } from 'vitest';
import type { CaseBody, ConformanceCase } from './cases.ts';
import {
  expectedOf,
  expectPages,
  FILTER_SAMPLES,
  idsOf,
  newAccountId,
  queryAll,
  sorted,
  variedRecords,
} from './fixtures.ts';

/** Account ids that a store could confuse with "no account". */
const NOT_AN_ACCOUNT = ['', 'null'];

/** The records of all lists, one from each in turn, so that batches mix them. */
function interleave(...lists: AuditRecord[][]): AuditRecord[] {
  const length = Math.max(...lists.map((list) => list.length));
  return Array.from({ length }, (_, i) => lists.flatMap((list) => (i < list.length ? [list[i]!] : []))).flat();
}

export const isolationCases = {
  'accounts are isolated': async ({ store }) => {
    const [a, b] = [newAccountId(), newAccountId()];
    // Twins: the same fields and instants in both accounts.
    const records = new Map([
      [a, variedRecords(a, 30)],
      [b, variedRecords(b, 30)],
    ]);
    const all = interleave(records.get(a)!, records.get(b)!);
    for (let i = 0; i < all.length; i += 8) await store.append(all.slice(i, i + 8));

    for (const [account, own] of records) {
      for (const sample of FILTER_SAMPLES) {
        const expected = expectedOf(sample, own);
        for (const order of ORDERS) {
          const found = await queryAll(store, account, order, sample.filter);
          expect(idsOf(found), `${JSON.stringify(sample.filter)}, ${order}`).toEqual(idsOf(sorted(expected, order)));
        }
      }
      for (const order of ORDERS) {
        await expectPages(store, { accountId: account, filter: {}, order, limit: 4 }, sorted(own, order));
      }
    }
    for (const record of records.get(a)!) expect(await store.get(b, record.id)).toBeNull();
    for (const record of records.get(b)!) expect(await store.get(a, record.id)).toBeNull();
  },

  'records without an account are never returned': async ({ store }) => {
    const account = newAccountId();
    const owned = variedRecords(account, 15);
    const orphans = variedRecords(null, 15);
    await store.append(interleave(owned, orphans));
    const orphanIds = new Set(idsOf(orphans));

    for (const sample of FILTER_SAMPLES) {
      const expected = expectedOf(sample, owned);
      for (const order of ORDERS) {
        const found = await queryAll(store, account, order, sample.filter);
        expect(idsOf(found), `${JSON.stringify(sample.filter)}, ${order}`).toEqual(idsOf(sorted(expected, order)));
      }
    }
    // Other cases may have stored orphans too, so only this case's are looked for.
    for (const accountId of NOT_AN_ACCOUNT) {
      for (const order of ORDERS) {
        const found = await queryAll(store, accountId, order);
        expect(idsOf(found).filter((id) => orphanIds.has(id)), `account ${JSON.stringify(accountId)}, ${order}`).toEqual([]);
      }
    }
    for (const orphan of orphans) {
      for (const accountId of [account, ...NOT_AN_ACCOUNT]) {
        expect(await store.get(accountId, orphan.id)).toBeNull();
      }
    }
  },
} satisfies Partial<Record<ConformanceCase, CaseBody>>;
