import {
  compareAccounts,
  GENESIS_HASH,
  groupByAccount,
  linkRecords,
  resolveChainOption,
  webCryptoHasher,
  type ChainedRecord,
  type ChainHead,
  type ChainLink,
  type ChainOptions,
} from './chain.ts';
import type { AuditRecord } from './record.ts';
import { compareKeyset, matchesFilter, type Store, type StoreQuery } from './store.ts';

export interface MemoryStoreOptions {
  /**
   * Keep at most this many records per account, dropping the oldest. Default:
   * unbounded. Dropped records leave their chain with a pruned start (verify
   * with `acceptPrunedStart`), or with gaps when records arrive out of time order.
   */
  maxRecordsPerAccount?: number;
  /**
   * The hash chain (CHAIN.md): on by default, plain SHA-256 through Web
   * Crypto; `{ key }` for HMAC-SHA-256; `false` for none (the store then has
   * no `scanChain`, `scanUnchained` or `chainHeads`).
   */
  chain?: ChainOptions | false;
}

/**
 * A store in process memory: for tests, demos and short-lived processes.
 * Records are kept per account in `(created, id)` order, so a page is a
 * binary search and a slice.
 *
 * @example
 * const auditor = createAuditor({ store: memoryStore() });
 */
export function memoryStore(options: MemoryStoreOptions = {}): Store {
  const max = options.maxRecordsPerAccount ?? Infinity;
  if (!(max === Infinity || (Number.isInteger(max) && max > 0))) {
    throw new TypeError('memoryStore: maxRecordsPerAccount must be a positive integer');
  }
  const chain = resolveChainOption(options.chain, 'memoryStore');
  const hasher = chain ? webCryptoHasher(chain.key) : null;
  // Records without an account are kept under `null`, which no query's account id can equal.
  const byAccount = new Map<string | null, AuditRecord[]>();
  const ids = new Map<string, AuditRecord>();
  /** Each account's chain in `seq` order, and its head (which outlives dropped records). */
  const chains = new Map<string | null, { links: Array<ChainLink & { record: AuditRecord }>; head: ChainHead }>();
  const links = new Map<string, ChainLink>();
  let closed = false;
  // Hashing is asynchronous, so appends run one after another: two interleaved ones would fork a chain.
  let appending: Promise<void> = Promise.resolve();

  /** Index of the first record sorting after `pos` in ascending order. */
  const upperBound = (list: AuditRecord[], pos: { created: string; id: string }): number => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeyset(list[mid]!, pos) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const appendNow = async (records: readonly AuditRecord[]): Promise<void> => {
    if (closed) throw new Error('memoryStore: closed');
    // Linked first, stored after: a hashing failure leaves nothing half stored.
    const linked: Array<[AuditRecord, ChainLink | null]> = [];
    for (const [account, group] of groupByAccount(records.filter((r) => !ids.has(r.id)))) {
      // A deep copy, so that callers cannot change a stored record afterwards.
      const copies = group.map((r) => structuredClone(r) as AuditRecord);
      if (!hasher) {
        for (const record of copies) linked.push([record, null]);
        continue;
      }
      const head = chains.get(account)?.head ?? null;
      for (const link of await linkRecords(head, copies, hasher)) linked.push([link.record, link]);
    }
    if (closed) throw new Error('memoryStore: closed');
    for (const [record, link] of linked) {
      const account = record.account_id;
      let list = byAccount.get(account);
      if (!list) byAccount.set(account, (list = []));
      list.splice(upperBound(list, record), 0, record);
      ids.set(record.id, record);
      if (link) {
        let entry = chains.get(account);
        if (!entry) chains.set(account, (entry = { links: [], head: { accountId: account, seq: 0, hash: GENESIS_HASH } }));
        const { seq, prevHash, hash } = link;
        entry.links.push({ record, seq, prevHash, hash });
        entry.head = { accountId: account, seq, hash };
        links.set(record.id, { seq, prevHash, hash });
      }
      if (list.length > max) {
        const [dropped] = list.splice(0, 1);
        if (dropped) drop(dropped);
      }
    }
  };

  const drop = (record: AuditRecord): void => {
    ids.delete(record.id);
    if (!links.delete(record.id)) return;
    const entry = chains.get(record.account_id)!;
    const at = entry.links.findIndex((l) => l.record === record);
    if (at >= 0) entry.links.splice(at, 1);
  };

  const chained = (link: ChainLink & { record: AuditRecord }): ChainedRecord => ({
    record: structuredClone(link.record),
    seq: link.seq,
    prevHash: link.prevHash,
    hash: link.hash,
  });

  const chainReader: Pick<Store, 'scanChain' | 'scanUnchained' | 'chainHeads'> = {
    async scanChain(accountId, afterSeq, limit) {
      if (closed) throw new Error('memoryStore: closed');
      const list = chains.get(accountId)?.links ?? [];
      // `seq` ascends along the list: the first link past `afterSeq` by binary search.
      let lo = 0;
      let hi = list.length;
      while (afterSeq !== null && lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (list[mid]!.seq <= afterSeq) lo = mid + 1;
        else hi = mid;
      }
      return list.slice(lo, lo + limit).map(chained);
    },
    async scanUnchained(accountId, since, limit) {
      if (closed) throw new Error('memoryStore: closed');
      const out: AuditRecord[] = [];
      for (const record of byAccount.get(accountId) ?? []) {
        if (out.length >= limit) break;
        if (!links.has(record.id) && (since === null || record.created >= since)) out.push(structuredClone(record));
      }
      return out;
    },
    async chainHeads(accountId) {
      if (closed) throw new Error('memoryStore: closed');
      if (accountId !== undefined) {
        const head = chains.get(accountId)?.head;
        return [head ? { ...head } : { accountId, seq: 0, hash: GENESIS_HASH }];
      }
      const accounts = new Set<string | null>([...byAccount.keys(), ...chains.keys()]);
      return [...accounts]
        .sort(compareAccounts)
        .map((account) => ({ ...(chains.get(account)?.head ?? { accountId: account, seq: 0, hash: GENESIS_HASH }) }));
    },
  };

  return {
    ...(chain ? chainReader : {}),
    append(records) {
      const run = appending.then(() => appendNow(records));
      appending = run.catch(() => undefined);
      return run;
    },

    async query(query: StoreQuery) {
      if (closed) throw new Error('memoryStore: closed');
      const list = byAccount.get(query.accountId) ?? [];
      const out: AuditRecord[] = [];
      if (query.order === 'asc') {
        for (let i = query.after ? upperBound(list, query.after) : 0; i < list.length && out.length < query.limit; i++) {
          if (matchesFilter(list[i]!, query.filter)) out.push(structuredClone(list[i]!));
        }
      } else {
        let i = list.length - 1;
        if (query.after) {
          // Last index sorting strictly before the position.
          let lo = 0;
          let hi = list.length;
          while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if (compareKeyset(list[mid]!, query.after) < 0) lo = mid + 1;
            else hi = mid;
          }
          i = lo - 1;
        }
        for (; i >= 0 && out.length < query.limit; i--) {
          if (matchesFilter(list[i]!, query.filter)) out.push(structuredClone(list[i]!));
        }
      }
      return out;
    },

    async get(accountId, id) {
      if (closed) throw new Error('memoryStore: closed');
      const record = ids.get(id);
      return record && record.account_id === accountId ? structuredClone(record) : null;
    },

    async close() {
      closed = true;
    },
  };
}
