import type { AuditRecord } from './record.ts';
import { compareKeyset, matchesFilter, type Store, type StoreQuery } from './store.ts';

export interface MemoryStoreOptions {
  /** Keep at most this many records per account, dropping the oldest. Default: unbounded. */
  maxRecordsPerAccount?: number;
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
  // Records without an account are kept under `null`, which no query's account id can equal.
  const byAccount = new Map<string | null, AuditRecord[]>();
  const ids = new Map<string, AuditRecord>();
  let closed = false;

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

  return {
    async append(records) {
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
        if (list.length > max) {
          const [dropped] = list.splice(0, 1);
          if (dropped) ids.delete(dropped.id);
        }
      }
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
