import { type AuditRecord, type Store } from '@audit-trail/core';
import { GENESIS_HASH, linkRecords, webCryptoHasher, type ChainedRecord, type KeysetPosition, type StoreFilter, type StoreQuery } from '@audit-trail/core/store';
import { describe, expect, it } from 'vitest';
import type { ConformanceCase } from './cases.ts';
import { CASE_BODIES, runCase, testStore } from './test-store.ts';

/** Ways a store can be wrong; each one the suite must catch. */
interface Flaws {
  /** Orders by `created` alone, so ties come in insertion order. */
  tiesByInsertion?: boolean;
  /** Ignores `order` and always answers newest first. */
  alwaysDesc?: boolean;
  /** Takes `limit` records, then filters them. */
  limitBeforeFilter?: boolean;
  /** Returns one record less than `limit` asks for. */
  shortPages?: boolean;
  /** Ignores `after`. */
  ignoresAfter?: boolean;
  /** Compares `after` by `created` alone, which skips the rest of a tie. */
  afterByCreatedOnly?: boolean;
  /** `from` exclusive. */
  exclusiveFrom?: boolean;
  /** `to` inclusive. */
  inclusiveTo?: boolean;
  /** Filters text with SQL LIKE, where `_` and `%` are wildcards. */
  likeMatching?: boolean;
  /** Filters text ignoring case. */
  caseInsensitive?: boolean;
  /** Any filter matching is enough. */
  anyFilter?: boolean;
  /** A record whose id is stored replaces the stored one. */
  replacesOnDuplicate?: boolean;
  /** Looks for stored ids, then inserts, with a wait in between. */
  checksThenInserts?: boolean;
  /** Reads the list, waits, then writes it back with the batch added. */
  losesConcurrentAppends?: boolean;
  /** Stores `created` to the second. */
  secondsPrecision?: boolean;
  /** Leaves out a `null` trace instead of storing it. */
  dropsNullTrace?: boolean;
  /** Treats a record without an account as one of account `''`. */
  nullAccountAsEmpty?: boolean;
  /** `get` finds a record in any account. */
  getIgnoresAccount?: boolean;
  /** Rejects an empty batch. */
  rejectsEmptyBatch?: boolean;
  /** `close` rejects. */
  closeRejects?: boolean;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

/** A plain array store, written independently of core's memory store, with optional flaws. */
function arrayStore(flaws: Flaws = {}): Store {
  let records: AuditRecord[] = [];

  const textMatches = (value: string | null, wanted: string): boolean => {
    if (value === null) return false;
    if (flaws.caseInsensitive) return value.toLowerCase() === wanted.toLowerCase();
    if (flaws.likeMatching) {
      const pattern = wanted.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/_/g, '.').replace(/%/g, '.*');
      return new RegExp(`^${pattern}$`).test(value);
    }
    return value === wanted;
  };

  const matches = (record: AuditRecord, filter: StoreFilter): boolean => {
    const checks: boolean[] = [];
    if (filter.actionTypes) checks.push(filter.actionTypes.some((type) => textMatches(record.action_type, type)));
    if (filter.resource !== undefined) checks.push(textMatches(record.resource, filter.resource));
    if (filter.resourceId !== undefined) checks.push(textMatches(record.resource_id, filter.resourceId));
    if (filter.userId !== undefined) checks.push(textMatches(record.user.id, filter.userId));
    if (filter.userEmail !== undefined) checks.push(textMatches(record.user.email, filter.userEmail));
    if (filter.appId !== undefined) checks.push(textMatches(record.app_id, filter.appId));
    if (filter.outcome !== undefined) checks.push(record.outcome === filter.outcome);
    if (filter.from !== undefined) checks.push(flaws.exclusiveFrom ? record.created > filter.from : record.created >= filter.from);
    if (filter.to !== undefined) checks.push(flaws.inclusiveTo ? record.created <= filter.to : record.created < filter.to);
    return flaws.anyFilter && checks.length > 0 ? checks.some(Boolean) : checks.every(Boolean);
  };

  const compare = (a: KeysetPosition, b: KeysetPosition): number => {
    if (a.created !== b.created) return a.created < b.created ? -1 : 1;
    if (flaws.tiesByInsertion || flaws.afterByCreatedOnly) return 0;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  };

  const stored = (record: AuditRecord): AuditRecord => {
    const copy = structuredClone(record);
    if (flaws.secondsPrecision) copy.created = copy.created.replace(/\.\d{3}Z$/, '.000Z');
    if (flaws.dropsNullTrace && copy.trace === null) delete (copy as Partial<AuditRecord>).trace;
    return copy;
  };

  return {
    async append(batch) {
      if (flaws.rejectsEmptyBatch && batch.length === 0) throw new Error('empty batch');
      const known = new Set(records.map((record) => record.id));
      if (flaws.checksThenInserts || flaws.losesConcurrentAppends) {
        const snapshot = records;
        await tick();
        const fresh = batch.filter((record) => !known.has(record.id)).map(stored);
        records = flaws.losesConcurrentAppends ? [...snapshot, ...fresh] : [...records, ...fresh];
        return;
      }
      for (const record of batch) {
        if (!known.has(record.id)) records.push(stored(record));
        else if (flaws.replacesOnDuplicate) records = records.map((old) => (old.id === record.id ? stored(record) : old));
        known.add(record.id);
      }
    },

    async query({ accountId, filter, order, limit, after }: StoreQuery) {
      const ascending = records
        .filter((record) => (flaws.nullAccountAsEmpty ? (record.account_id ?? '') : record.account_id) === accountId)
        .sort(compare);
      let list = order === 'asc' && !flaws.alwaysDesc ? ascending : ascending.reverse();
      if (after && !flaws.ignoresAfter) {
        list = list.filter((record) => (order === 'asc' ? compare(record, after) > 0 : compare(record, after) < 0));
      }
      list = flaws.limitBeforeFilter
        ? list.slice(0, limit).filter((record) => matches(record, filter))
        : list.filter((record) => matches(record, filter)).slice(0, limit);
      if (flaws.shortPages && limit > 1 && list.length === limit) list = list.slice(0, -1);
      return structuredClone(list);
    },

    async get(accountId, id) {
      const record = records.find((candidate) => candidate.id === id);
      if (!record || (!flaws.getIgnoresAccount && record.account_id !== accountId)) return null;
      return structuredClone(record);
    },

    async close() {
      if (flaws.closeRejects) throw new Error('cannot close');
    },
  };
}

testStore({ name: 'array store', create: () => arrayStore() });

testStore({
  name: 'array store, opting out',
  create: () => arrayStore({ checksThenInserts: true }),
  skip: ['concurrent appends of one batch store it once'],
});

/** Each flaw, and cases that must catch it. */
const CAUGHT_BY: [keyof Flaws, ConformanceCase[]][] = [
  [
    'tiesByInsertion',
    ['query orders ties in created by id', 'paging walks every record once', 'append stores a batch of 1000 records whole'],
  ],
  ['alwaysDesc', ['query orders oldest first in asc', 'paging walks every record once']],
  ['limitBeforeFilter', ['query returns at most limit records', 'paging walks every filtered record once']],
  ['shortPages', ['query returns at most limit records', 'paging walks every record once']],
  ['ignoresAfter', ['paging walks every record once', 'paging works after a record that does not match the filter']],
  [
    'afterByCreatedOnly',
    [
      'paging walks every record once',
      'paging walks every filtered record once',
      'paging works after a record that does not match the filter',
    ],
  ],
  ['exclusiveFrom', ['query filters by from, inclusive', 'paging walks every filtered record once']],
  ['inclusiveTo', ['query filters by to, exclusive']],
  [
    'likeMatching',
    [
      'query filters by resource',
      'query filters by resourceId',
      'query filters by userId',
      'query filters by userEmail',
      'query filters by appId',
    ],
  ],
  [
    'caseInsensitive',
    [
      'query filters by actionTypes',
      'query filters by resource',
      'query filters by resourceId',
      'query filters by userId',
      'query filters by userEmail',
    ],
  ],
  ['anyFilter', ['query combines filters with AND', 'accounts are isolated']],
  ['replacesOnDuplicate', ['append ignores a record whose id is already stored']],
  ['checksThenInserts', ['concurrent appends of one batch store it once']],
  ['losesConcurrentAppends', ['concurrent appends are all stored']],
  ['secondsPrecision', ['append then get and query return the record unchanged', 'query orders newest first in desc']],
  ['dropsNullTrace', ['append then get and query return the record unchanged']],
  ['nullAccountAsEmpty', ['records without an account are never returned']],
  ['getIgnoresAccount', ['get returns null for a record of another account', 'accounts are isolated']],
  ['rejectsEmptyBatch', ['append accepts an empty batch']],
  ['closeRejects', ['close resolves']],
];

/** Ways a chaining store can go wrong. */
interface ChainFlaws {
  /** Reads the head, waits, then links: concurrent appends fork the chain. */
  forksUnderConcurrency?: boolean;
  /** Gives records already stored a position again. */
  retryTakesPosition?: boolean;
  /** Chains by `created` order instead of append order. */
  chainsByCreated?: boolean;
  /** Puts records without an account into the chain of account `''`. */
  nullChainAsEmpty?: boolean;
}

/** The array store with a hash chain beside it, written with core's linkRecords, with optional flaws. */
function chainedArrayStore(flaws: ChainFlaws = {}): Store {
  const inner = arrayStore();
  const hasher = webCryptoHasher();
  const chains = new Map<string | null, ChainedRecord[]>();
  const stored = new Set<string>();
  let queue: Promise<void> = Promise.resolve();

  const appendNow = async (batch: readonly AuditRecord[]) => {
    const byAccount = new Map<string | null, AuditRecord[]>();
    for (const record of flaws.chainsByCreated ? [...batch].sort((a, b) => (a.created < b.created ? -1 : 1)) : batch) {
      if (!flaws.retryTakesPosition && stored.has(record.id)) continue;
      stored.add(record.id);
      const key = flaws.nullChainAsEmpty ? (record.account_id ?? '') : record.account_id;
      byAccount.set(key, [...(byAccount.get(key) ?? []), record]);
    }
    for (const [account, records] of byAccount) {
      const chain = chains.get(account) ?? [];
      const last = chain.at(-1);
      if (flaws.forksUnderConcurrency) await new Promise((resolve) => setTimeout(resolve, 1));
      const links = await linkRecords(last ? { seq: last.seq, hash: last.hash } : null, records, hasher);
      chains.set(account, [...(chains.get(account) ?? []), ...links.map((l) => ({ ...l, record: structuredClone(l.record) }))]);
    }
    await inner.append(batch);
  };

  return {
    ...inner,
    append(batch) {
      if (flaws.forksUnderConcurrency) return appendNow(batch);
      const run = queue.then(() => appendNow(batch));
      queue = run.catch(() => undefined);
      return run;
    },
    async scanChain(accountId, afterSeq, limit) {
      return (chains.get(accountId) ?? []).filter((l) => afterSeq === null || l.seq > afterSeq).slice(0, limit);
    },
    async scanUnchained() {
      return [];
    },
    async chainHeads(accountId?: string | null) {
      const headOf = (account: string | null) => {
        const last = chains.get(account)?.at(-1);
        return { accountId: account, seq: last?.seq ?? 0, hash: last?.hash ?? GENESIS_HASH };
      };
      return accountId !== undefined ? [headOf(accountId)] : [...chains.keys()].map(headOf);
    },
  };
}

testStore({ name: 'array store with a chain', create: () => chainedArrayStore() });

const CHAIN_CAUGHT_BY: [keyof ChainFlaws, ConformanceCase[]][] = [
  ['forksUnderConcurrency', ['chain stays one line under concurrent appends']],
  ['retryTakesPosition', ['chain gives a record already stored no position', 'chain stays one line under concurrent appends']],
  ['chainsByCreated', ['chain links each account from #1 in append order']],
  ['nullChainAsEmpty', ['chain puts records without an account in a chain of their own']],
];

describe('the conformance suite catches a flawed chain', () => {
  for (const [flaw, cases] of CHAIN_CAUGHT_BY) {
    for (const name of cases) {
      it(`${flaw}: ${name}`, async () => {
        await expect(runCase(() => chainedArrayStore({ [flaw]: true }), CASE_BODIES[name])).rejects.toThrow();
      });
    }
  }
});

describe('the conformance suite catches a flawed store', () => {
  for (const [flaw, cases] of CAUGHT_BY) {
    for (const name of cases) {
      it(`${flaw}: ${name}`, async () => {
        await expect(runCase(() => arrayStore({ [flaw]: true }), CASE_BODIES[name])).rejects.toThrow();
      });
    }
  }
});

describe('testStore', () => {
  it('refuses a skip that names no case', () => {
    expect(() =>
      testStore({ name: 'x', create: () => arrayStore(), skip: ['no such case' as ConformanceCase] }),
    ).toThrow(/skip names no conformance case: "no such case"/);
  });

  it('refuses options without create', () => {
    expect(() => testStore({ name: 'x' } as Parameters<typeof testStore>[0])).toThrow(/create/);
  });

  it('closes the store after a failing case', async () => {
    let closed = false;
    const store = { ...arrayStore(), close: async () => void (closed = true) };
    await expect(
      runCase(
        () => store,
        async () => {
          throw new Error('case failed');
        },
      ),
    ).rejects.toThrow('case failed');
    expect(closed).toBe(true);
  });
});
