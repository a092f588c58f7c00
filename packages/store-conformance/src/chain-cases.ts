import { verify, type AuditRecord, type Store } from '@audit-trail/core';
import { GENESIS_HASH, type ChainedRecord } from '@audit-trail/core/store';
import { expect } from 'vitest';
import type { CaseBody, CaseContext, ConformanceCase } from './cases.ts';
import { idsOf, instant, newAccountId, SECOND } from './fixtures.ts';
import { sampleRecord } from './sample-record.ts';

/**
 * The hash chain (core's CHAIN.md), for stores that keep one: they have
 * `scanChain`, `scanUnchained` and `chainHeads`. A store without them sees
 * these cases skipped, with the reason, rather than passed.
 */
type ChainStore = Store & Required<Pick<Store, 'scanChain' | 'scanUnchained' | 'chainHeads'>>;

function chainStoreOf({ store, skip }: CaseContext): ChainStore {
  if (typeof store.scanChain !== 'function' || typeof store.scanUnchained !== 'function' || typeof store.chainHeads !== 'function') {
    skip('the store keeps no hash chain (no scanChain, scanUnchained, chainHeads)');
  }
  return store as ChainStore;
}

/** Every link of an account's chain, in pages of `pageSize`. */
async function wholeChain(store: ChainStore, accountId: string | null, pageSize = 1000): Promise<ChainedRecord[]> {
  const links: ChainedRecord[] = [];
  for (let after: number | null = null; ; ) {
    const page = await store.scanChain(accountId, after, pageSize);
    links.push(...page);
    if (page.length < pageSize) return links;
    after = page[page.length - 1]!.seq;
  }
}

/** Positions from `first` on, without gaps, each linked to the one before. */
function expectLinked(links: readonly ChainedRecord[], first = 1, before = GENESIS_HASH): void {
  links.forEach((link, i) => {
    expect(link.seq, `position ${i}`).toBe(first + i);
    expect(link.prevHash, `prev_hash of #${link.seq}`).toBe(i === 0 ? before : links[i - 1]!.hash);
    expect(link.hash, `hash of #${link.seq}`).toMatch(/^[0-9a-f]{64}$/);
  });
}

const records = (accountId: string | null, count: number, from = 0): AuditRecord[] =>
  Array.from({ length: count }, (_, i) => sampleRecord({ account_id: accountId, created: instant((from + i) * SECOND), details: { index: from + i } }));

export const chainCases = {
  'chain links each account from #1 in append order': async (context) => {
    const store = chainStoreOf(context);
    const [a, b] = [newAccountId(), newAccountId()];
    // Out of time order on purpose: the chain follows appends, not `created`.
    const mine = records(a, 30).reverse();
    const theirs = records(b, 12);
    for (let i = 0; i < 30; i += 7) await store.append([...mine.slice(i, i + 7), ...theirs.slice(i / 7 * 3, i / 7 * 3 + 3)]);
    const chainA = await wholeChain(store, a);
    expect(idsOf(chainA.map((l) => l.record))).toEqual(idsOf(mine));
    expectLinked(chainA);
    expectLinked(await wholeChain(store, b));
    expect(await verify(store, { account: a, ...(context.chainKey ? { key: context.chainKey } : {}) })).toMatchObject({ ok: true, verified: 30 });
  },

  'chain returns records exactly as appended': async (context) => {
    const store = chainStoreOf(context);
    const account = newAccountId();
    const appended = [
      ...records(account, 2),
      sampleRecord({ account_id: account, resource_id: null, app_id: null, status_code: null, trace: null, user: { email: null }, details: { nested: { a: [1, 'x', null] }, 'z-key': 'ü' } }),
    ];
    await store.append(appended);
    expect((await wholeChain(store, account)).map((l) => l.record)).toEqual(appended);
    expect(await store.scanUnchained(account, null, 10)).toEqual([]);
  },

  'chain gives a record already stored no position': async (context) => {
    const store = chainStoreOf(context);
    const account = newAccountId();
    const [first, second] = [records(account, 5), records(account, 5, 5)];
    await store.append(first);
    await store.append(first);
    await store.append([first[2]!, ...second, second[0]!, first[4]!]);
    const chain = await wholeChain(store, account);
    expect(idsOf(chain.map((l) => l.record))).toEqual(idsOf([...first, ...second]));
    expectLinked(chain);
  },

  'chain stays one line under concurrent appends': async (context) => {
    const store = chainStoreOf(context);
    const account = newAccountId();
    const batches = Array.from({ length: 10 }, (_, b) => records(account, 20, b * 20));
    // Each batch twice, concurrently: a retry racing the original must not fork the chain or take positions.
    await Promise.all([...batches, ...batches.slice(0, 3)].map((batch) => store.append(batch)));
    const chain = await wholeChain(store, account, 64);
    expect(chain).toHaveLength(200);
    expect(new Set(idsOf(chain.map((l) => l.record))).size).toBe(200);
    expectLinked(chain);
    // Each batch is contiguous: no writer interleaved inside another's batch.
    for (const batch of batches) {
      const at = chain.findIndex((l) => l.record.id === batch[0]!.id);
      expect(idsOf(chain.slice(at, at + 20).map((l) => l.record))).toEqual(idsOf(batch));
    }
    expect(await store.chainHeads(account)).toEqual([{ accountId: account, seq: 200, hash: chain[199]!.hash }]);
  },

  'chain puts records without an account in a chain of their own': async (context) => {
    const store = chainStoreOf(context);
    const account = newAccountId();
    const [before] = await store.chainHeads(null);
    const orphans = records(null, 6);
    await store.append([...orphans.slice(0, 3), ...records(account, 2), ...orphans.slice(3)]);
    const added = await store.scanChain(null, before!.seq, 100);
    expect(idsOf(added.map((l) => l.record))).toEqual(idsOf(orphans));
    expectLinked(added, before!.seq + 1, before!.hash);
    expect((await wholeChain(store, account)).map((l) => l.seq)).toEqual([1, 2]);
  },

  'scanChain pages by position': async (context) => {
    const store = chainStoreOf(context);
    const account = newAccountId();
    await store.append(records(account, 25));
    const pages = [await store.scanChain(account, null, 10), await store.scanChain(account, 10, 10), await store.scanChain(account, 20, 10)];
    expect(pages.map((page) => page.map((l) => l.seq))).toEqual([
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      [11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
      [21, 22, 23, 24, 25],
    ]);
    expect(await store.scanChain(account, 25, 10)).toEqual([]);
    expect(await store.scanChain(newAccountId(), null, 10)).toEqual([]);
  },

  'chainHeads names every account with its newest link': async (context) => {
    const store = chainStoreOf(context);
    const [a, b] = [newAccountId(), newAccountId()];
    await store.append([...records(a, 3), ...records(b, 2)]);
    const [chainA, chainB] = [await wholeChain(store, a), await wholeChain(store, b)];
    const all = await store.chainHeads();
    expect(all).toContainEqual({ accountId: a, seq: 3, hash: chainA[2]!.hash });
    expect(all).toContainEqual({ accountId: b, seq: 2, hash: chainB[1]!.hash });
    expect(new Set(all.map((head) => head.accountId)).size).toBe(all.length);
    expect(await store.chainHeads(a)).toEqual([{ accountId: a, seq: 3, hash: chainA[2]!.hash }]);
    const unknown = newAccountId();
    expect(await store.chainHeads(unknown)).toEqual([{ accountId: unknown, seq: 0, hash: GENESIS_HASH }]);
  },
} satisfies Partial<Record<ConformanceCase, CaseBody>>;
