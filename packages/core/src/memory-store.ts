import {
  chainDocument,
  compareAccounts,
  GENESIS_HASH,
  resolveChainOption,
  webCryptoHasher,
  type ChainedRecord,
  type ChainHead,
  type ChainOptions,
} from './chain.ts';
import type { AuditRecord } from './record.ts';
import type { LegalHold, PruneAnchor, RetentionStorage } from './retention.ts';
import { bucketStart, compareKeyset, matchesFilter, type StatsBucket, type Store, type StoreQuery, type StoreStatsQuery } from './store.ts';

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

/** A record's place in its chain; `prevHash` and `hash` are empty until hashed. */
interface MemoryLink {
  record: AuditRecord;
  seq: number;
  prevHash: string;
  hash: string;
  /** Dropped by `maxRecordsPerAccount`: hashed still (its successor links to it), never returned. */
  dropped: boolean;
}

interface MemoryChain {
  /** Links in `seq` order; dropped ones stay until hashed. */
  links: MemoryLink[];
  /** `links[0 … hashed - 1]` are hashed. */
  hashed: number;
  /** The hash of the newest hashed link; genesis before the first. */
  prev: string;
  /** Its position; 0 before the first. */
  prevSeq: number;
  /** The newest position handed out. */
  seq: number;
  /** Dropped links still in `links`. */
  dropped: number;
}

/** Dropped links that may wait for hashing before it runs in the background, to bound memory. */
const MAX_DROPPED_WAITING = 1000;

/**
 * A store in process memory: for tests, demos and short-lived processes.
 * Records are kept per account in `(created, id)` order, so a page is a
 * binary search and a slice.
 *
 * Chain positions are handed out as records are appended (so the chain
 * follows append order), and hashed when the chain is first read: hashing
 * with Web Crypto is asynchronous and costs more than storing a record in
 * memory, and a memory store is seldom verified. The hashes are the same as
 * if they had been computed at once.
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
  const chains = new Map<string | null, MemoryChain>();
  const links = new Map<string, MemoryLink>();
  let closed = false;
  // One hashing run at a time: each continues where the last one stopped.
  let hashing: Promise<void> = Promise.resolve();

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

  /** Hashes the account's links not hashed yet, in order, then lets go of the dropped ones. */
  const hashPending = async (entry: MemoryChain): Promise<void> => {
    while (entry.hashed < entry.links.length) {
      const link = entry.links[entry.hashed]!;
      link.prevHash = entry.prev;
      link.hash = await hasher!.hash(chainDocument(link.record, link.seq, entry.prev));
      entry.prev = link.hash;
      entry.prevSeq = link.seq;
      entry.hashed++;
    }
    if (entry.dropped > 0) {
      entry.links = entry.links.filter((link) => !link.dropped);
      entry.hashed = entry.links.length;
      entry.dropped = 0;
    }
  };

  /** Resolves once every link of the account appended so far is hashed. */
  const hashed = (account: string | null): Promise<void> => {
    const run = hashing.then(async () => {
      const entry = chains.get(account);
      if (entry) await hashPending(entry);
    });
    hashing = run.catch(() => undefined);
    return run;
  };

  const append = (records: readonly AuditRecord[]): void => {
    if (closed) throw new Error('memoryStore: closed');
    for (const original of records) {
      if (ids.has(original.id)) continue;
      // A deep copy, so that callers cannot change a stored record afterwards.
      const record = structuredClone(original) as AuditRecord;
      const account = record.account_id;
      let list = byAccount.get(account);
      if (!list) byAccount.set(account, (list = []));
      list.splice(upperBound(list, record), 0, record);
      ids.set(record.id, record);
      if (hasher) {
        let entry = chains.get(account);
        if (!entry) chains.set(account, (entry = { links: [], hashed: 0, prev: GENESIS_HASH, prevSeq: 0, seq: 0, dropped: 0 }));
        const link: MemoryLink = { record, seq: ++entry.seq, prevHash: '', hash: '', dropped: false };
        entry.links.push(link);
        links.set(record.id, link);
      }
      if (list.length > max) {
        const [dropped] = list.splice(0, 1);
        if (dropped) drop(dropped);
      }
    }
  };

  const drop = (record: AuditRecord): void => {
    ids.delete(record.id);
    const link = links.get(record.id);
    if (!link) return;
    links.delete(record.id);
    link.dropped = true;
    const entry = chains.get(record.account_id)!;
    // Kept until hashed, since the next link's prev_hash is its hash; hashed soon when many wait.
    if (++entry.dropped > MAX_DROPPED_WAITING) void hashed(record.account_id);
  };

  const chained = (link: MemoryLink): ChainedRecord => ({
    record: structuredClone(link.record),
    seq: link.seq,
    prevHash: link.prevHash,
    hash: link.hash,
  });

  const chainReader: Pick<Store, 'scanChain' | 'scanUnchained' | 'chainHeads'> = {
    async scanChain(accountId, afterSeq, limit) {
      if (closed) throw new Error('memoryStore: closed');
      await hashed(accountId);
      const entry = chains.get(accountId);
      const list = entry?.links ?? [];
      // Only the hashed links: any appended since the hashing are not part of the chain read yet.
      const end = entry?.hashed ?? 0;
      // `seq` ascends along the list: the first link past `afterSeq` by binary search.
      let lo = 0;
      let hi = end;
      while (afterSeq !== null && lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (list[mid]!.seq <= afterSeq) lo = mid + 1;
        else hi = mid;
      }
      const out: ChainedRecord[] = [];
      for (let i = lo; i < end && out.length < limit; i++) if (!list[i]!.dropped) out.push(chained(list[i]!));
      return out;
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
      const headOf = async (account: string | null): Promise<ChainHead> => {
        await hashed(account);
        const entry = chains.get(account);
        // Read right after hashing: links appended since are not hashed yet, and not part of the head.
        return { accountId: account, seq: entry?.prevSeq ?? 0, hash: entry?.prev ?? GENESIS_HASH };
      };
      if (accountId !== undefined) return [await headOf(accountId)];
      const accounts = [...new Set<string | null>([...byAccount.keys(), ...chains.keys()])].sort(compareAccounts);
      const heads: ChainHead[] = [];
      for (const account of accounts) heads.push(await headOf(account));
      return heads;
    },
  };

  const retention = memoryRetention({
    async deleteChain(accountId, fromSeq, throughSeq) {
      if (closed) throw new Error('memoryStore: closed');
      await hashed(accountId);
      const entry = chains.get(accountId);
      if (!entry) return 0;
      const gone = new Set<AuditRecord>();
      const kept: MemoryLink[] = [];
      let keptHashed = 0;
      entry.links.forEach((link, index) => {
        const remove = index < entry.hashed && !link.dropped && link.seq >= fromSeq && link.seq <= throughSeq;
        if (remove) {
          gone.add(link.record);
          ids.delete(link.record.id);
          links.delete(link.record.id);
          return;
        }
        kept.push(link);
        if (index < entry.hashed) keptHashed++;
      });
      entry.links = kept;
      entry.hashed = keptHashed;
      if (gone.size > 0) byAccount.set(accountId, (byAccount.get(accountId) ?? []).filter((record) => !gone.has(record)));
      return gone.size;
    },
  });

  return {
    ...(chain ? { ...chainReader, retention } : {}),
    async append(records) {
      append(records);
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

    async stats(query: StoreStatsQuery) {
      if (closed) throw new Error('memoryStore: closed');
      const list = byAccount.get(query.accountId) ?? [];
      const buckets = new Map<string, StatsBucket>();
      // Sorted by (created, id): start at `from`, stop at `to`, count without copying.
      for (let i = upperBound(list, { created: query.filter.from, id: '' }); i < list.length; i++) {
        const record = list[i]!;
        if (record.created >= query.filter.to) break;
        if (!matchesFilter(record, query.filter)) continue;
        const start = bucketStart(record.created, query.interval);
        let bucket = buckets.get(start);
        if (!bucket) buckets.set(start, (bucket = { start, count: 0, failures: 0 }));
        bucket.count++;
        if (record.outcome === 'failure') bucket.failures++;
      }
      return [...buckets.values()];
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

/** The anchors and holds of a memory store, in memory; the delete is the store's. */
function memoryRetention(store: Pick<RetentionStorage, 'deleteChain'>): RetentionStorage {
  const anchors: PruneAnchor[] = [];
  const holds = new Map<string, LegalHold>();
  return {
    async anchors(accountId) {
      return anchors
        .filter((anchor) => accountId === undefined || anchor.account === accountId)
        .sort((a, b) => compareAccounts(a.account, b.account) || a.seq - b.seq)
        .map((anchor) => ({ ...anchor }));
    },
    async addAnchor(anchor) {
      anchors.push({ ...anchor });
    },
    deleteChain: store.deleteChain,
    async holds() {
      return [...holds.values()].sort((a, b) => compareAccounts(a.account, b.account)).map((hold) => ({ ...hold }));
    },
    async hold(account, reason, at) {
      if (holds.has(account)) return false;
      holds.set(account, { account, reason, held_at: at });
      return true;
    },
    async release(account) {
      return holds.delete(account);
    },
  };
}
