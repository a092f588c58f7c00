import { type AuditRecord } from '@audit-trail/core';
import { ORDERS, type KeysetPosition, type Order } from '@audit-trail/core/store';
import { expect } from 'vitest';
import type { CaseBody, ConformanceCase } from './cases.ts';
import {
  appendReversed,
  expectedOf,
  expectPages,
  FILTER_SAMPLES,
  idsOf,
  instant,
  MINUTE,
  newAccountId,
  positionOf,
  sorted,
  variedRecords,
  walkPages,
} from './fixtures.ts';
import { sampleRecord } from './sample-record.ts';

/** Page sizes that fall on, and cut through, the ties of three in {@link variedRecords}. */
const PAGE_SIZES = [1, 3, 7];

export const pagingCases = {
  'paging walks every record once': async ({ store }) => {
    const account = newAccountId();
    const records = variedRecords(account, 30);
    await appendReversed(store, records);
    for (const order of ORDERS) {
      for (const limit of PAGE_SIZES) {
        await expectPages(store, { accountId: account, filter: {}, order, limit }, sorted(records, order));
      }
    }
  },

  'paging walks every filtered record once': async ({ store }) => {
    const account = newAccountId();
    const records = variedRecords(account, 30);
    await appendReversed(store, records);
    for (const sample of FILTER_SAMPLES.filter(({ filter }) => Object.keys(filter).length > 0)) {
      const expected = expectedOf(sample, records);
      for (const order of ORDERS) {
        for (const limit of PAGE_SIZES) {
          await expectPages(store, { accountId: account, filter: sample.filter, order, limit }, sorted(expected, order));
        }
      }
    }
  },

  'paging neither repeats nor skips while records are appended': async ({ store }) => {
    for (const order of ORDERS) {
      const account = newAccountId();
      const originals = variedRecords(account, 14);
      await appendReversed(store, originals);

      // After each page, two more records, tied, and later than all others:
      // as actions that complete while a client pages.
      const added: AuditRecord[] = [];
      let minute = 60;
      const appendTwo = async () => {
        if (added.length >= 12) return;
        const created = instant(minute++ * MINUTE);
        const pair = [sampleRecord({ account_id: account, created }), sampleRecord({ account_id: account, created })];
        added.push(...pair);
        await store.append(pair.reverse());
      };
      const query = { accountId: account, filter: {}, order, limit: 3 };
      const pages = await walkPages(store, query, { between: appendTwo, maxPages: 20 });

      // Newest first, a walk starts above everything added later; oldest
      // first, it reaches what was added, once, at the end.
      const expected = order === 'desc' ? sorted(originals, 'desc') : sorted([...originals, ...added], 'asc');
      expect(idsOf(pages.flat()), order).toEqual(idsOf(expected));
    }
  },

  'paging works after a record that does not match the filter': async ({ store }) => {
    const account = newAccountId();
    const records = Array.from({ length: 9 }, (_, i) =>
      sampleRecord({ account_id: account, created: instant(i * MINUTE), outcome: i % 2 ? 'failure' : 'success' }),
    );
    await appendReversed(store, records, 4);
    const r = records;
    const pageAfter = async (order: Order, after: KeysetPosition, limit = 10) =>
      idsOf(await store.query({ accountId: account, filter: { outcome: 'success' }, order, limit, after }));

    // After a failure, while asking for successes.
    expect(await pageAfter('desc', positionOf(r[3]!))).toEqual(idsOf([r[2]!, r[0]!]));
    expect(await pageAfter('asc', positionOf(r[3]!))).toEqual(idsOf([r[4]!, r[6]!, r[8]!]));
    expect(await pageAfter('desc', positionOf(r[3]!), 1)).toEqual(idsOf([r[2]!]));

    // After a position where no record is.
    const between = { created: instant(4 * MINUTE + 30_000), id: r[4]!.id };
    expect(await pageAfter('desc', between)).toEqual(idsOf([r[4]!, r[2]!, r[0]!]));
    expect(await pageAfter('asc', between)).toEqual(idsOf([r[6]!, r[8]!]));

    // At a record's instant, with an id just past the record's own.
    const pastR4 = { created: r[4]!.created, id: `${r[4]!.id}0` };
    expect(await pageAfter('desc', pastR4)).toEqual(idsOf([r[4]!, r[2]!, r[0]!]));
    expect(await pageAfter('asc', pastR4)).toEqual(idsOf([r[6]!, r[8]!]));

    // Beyond either end.
    expect(await pageAfter('desc', positionOf(r[0]!))).toEqual([]);
    expect(await pageAfter('asc', positionOf(r[8]!))).toEqual([]);
  },
} satisfies Partial<Record<ConformanceCase, CaseBody>>;
