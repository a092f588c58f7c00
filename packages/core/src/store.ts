import type { ChainedRecord, ChainHead } from './chain.ts';
import type { AuditRecord, Outcome } from './record.ts';
import type { RetentionStorage } from './retention.ts';

/** Sort orders of a query: by `created`, then by `id`. */
export const ORDERS = ['desc', 'asc'] as const;
export type Order = (typeof ORDERS)[number];

/**
 * Filters of a query. Every present filter must match (AND); `actionTypes`
 * matches any of its values (OR). Instants are ISO 8601 UTC strings with
 * milliseconds, comparable as text.
 */
export interface StoreFilter {
  /** Any of these action types. Never empty when present. */
  actionTypes?: readonly string[];
  resource?: string;
  resourceId?: string;
  userId?: string;
  userEmail?: string;
  appId?: string;
  outcome?: Outcome;
  /** `created >= from`. */
  from?: string;
  /** `created < to`. */
  to?: string;
}

/** Bucket sizes of activity over time (`GET /audit/stats`). */
export const STATS_INTERVALS = ['hour', 'day'] as const;
export type StatsInterval = (typeof STATS_INTERVALS)[number];

/** One request for activity over time; always scoped to one account and bounded in time. */
export interface StoreStatsQuery {
  /** Only records whose `account_id` equals this. */
  accountId: string;
  /** The filters of a page query; `from` and `to` are always present. */
  filter: StoreFilter & { from: string; to: string };
  /** Buckets start at whole UTC hours or days. */
  interval: StatsInterval;
}

/** The records of one time bucket: how many, and how many of them failed. */
export interface StatsBucket {
  /** The bucket's first instant, ISO 8601 UTC with milliseconds (`2026-11-27T10:00:00.000Z`). */
  start: string;
  count: number;
  failures: number;
}

/**
 * The start of the bucket a record's `created` falls in: its UTC hour or day.
 * `created` is ISO 8601 UTC with milliseconds, so this cuts text.
 *
 * @example
 * bucketStart('2026-11-27T10:42:00.123Z', 'hour'); // '2026-11-27T10:00:00.000Z'
 */
export function bucketStart(created: string, interval: StatsInterval): string {
  return interval === 'hour' ? `${created.slice(0, 13)}:00:00.000Z` : `${created.slice(0, 10)}T00:00:00.000Z`;
}

/** A position in the `(created, id)` order: the last record of the previous page. */
export interface KeysetPosition {
  created: string;
  id: string;
}

/** One page request; always scoped to one account. */
export interface StoreQuery {
  /** Only records whose `account_id` equals this. */
  accountId: string;
  filter: StoreFilter;
  /** `desc`: newest first, by `(created, id)` descending; `asc`: the reverse. */
  order: Order;
  /** The most records to return (≥ 1). */
  limit: number;
  /** Return only records strictly after this position in `order`. */
  after?: KeysetPosition | null;
}

/**
 * The storage interface. It is small on purpose: ids, timestamps, validation
 * and redaction happen once, in core, before a store sees a record, so a store
 * only persists and finds. Run `@audit-trail/store-conformance` against any
 * implementation.
 *
 * @example
 * const store: Store = {
 *   async append(records) { await db.insertMany(records) },
 *   async query(q) { return db.page(q) },
 *   async get(accountId, id) { return db.find(accountId, id) },
 *   async close() { await db.end() },
 * };
 */
export interface Store {
  /**
   * Persists a batch of valid records, all or none. A record whose `id` is
   * already stored is ignored (so a retried batch cannot duplicate). Resolves
   * once the batch is durable; rejects if it is not.
   */
  append(records: readonly AuditRecord[]): Promise<void>;
  /**
   * One page of one account's records, in `(created, id)` order (`desc` or
   * `asc`), after the keyset position when given, at most `limit` long.
   * Must cost the same at any depth: a range scan, not an OFFSET.
   */
  query(query: StoreQuery): Promise<AuditRecord[]>;
  /** One record of one account, or `null` when it does not exist there. */
  get(accountId: string, id: string): Promise<AuditRecord | null>;
  /** Releases connections and handles; called once, after the last append. */
  close(): Promise<void>;

  /**
   * Activity over time, computed by the database (a GROUP BY on the time
   * bucket). Optional: without it, core pages through `query` and counts.
   * Returns the buckets that hold at least one matching record (start as
   * {@link bucketStart} gives it), in any order; core adds the empty ones.
   */
  stats?(query: StoreStatsQuery): Promise<StatsBucket[]>;

  // The hash chain (CHAIN.md). Optional: a store without these still works,
  // and `verify` refuses it. A chaining store links every record inside
  // `append`, in the transaction that stores it, so that the database
  // serialises appends per account; the wire format of records is unchanged.

  /**
   * One page of an account's chain: chained records with `seq > afterSeq`
   * (every one when `afterSeq` is `null`, including any with a seq below 1),
   * in ascending `seq` order, at most `limit`. `accountId` `null` is the
   * chain of records without an account. Records without a link are not
   * included (see `scanUnchained`).
   */
  scanChain?(accountId: string | null, afterSeq: number | null, limit: number): Promise<ChainedRecord[]>;
  /**
   * Records of an account that carry no chain link (stored before chaining
   * was on, by a store with `chain: false`, or inserted behind the store's
   * back) and were created at or after `since` (any time when `null`), in
   * any order, at most `limit`.
   */
  scanUnchained?(accountId: string | null, since: string | null, limit: number): Promise<AuditRecord[]>;
  /**
   * The chain heads the store keeps: the link it will append the next record
   * of each account after. With `accountId` (`null` included), that
   * account's head only (`seq` 0 when it has none). Without, one head per
   * account that has records or a head, records without an account
   * included, sorted by account with `null` first.
   */
  chainHeads?(accountId?: string | null): Promise<ChainHead[]>;

  /**
   * Retention (CHAIN.md, "Retention"): the prune anchors, legal holds and
   * batched deletes that `prune` and `setLegalHold` use, and whose anchors
   * `verify` continues pruned chains from. Optional: a store without it
   * cannot be pruned. Only for a store that keeps the hash chain.
   */
  retention?: RetentionStorage;

  /**
   * What the store has taken but not yet handed on to where it keeps records
   * (a local spool in front of a remote database). Optional: a store without
   * a spool leaves it out. Synchronous and cheap, for stats and metrics.
   */
  spoolStats?(): SpoolStats;
}

/** The depth and age of a store's spool: records it has accepted and not yet forwarded. */
export interface SpoolStats {
  /** Records waiting in the spool. */
  records: number;
  /** Their size in bytes, as stored. */
  bytes: number;
  /** How long the oldest waiting record has waited, in ms; `null` when none waits. */
  oldestAgeMs: number | null;
}

/** Compares two records by `(created, id)`: negative when `a` sorts first in `asc`. */
export function compareKeyset(a: KeysetPosition, b: KeysetPosition): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return 0;
}

/** Whether a record passes every filter of a query (for stores that filter in code). */
export function matchesFilter(record: AuditRecord, filter: StoreFilter): boolean {
  if (filter.actionTypes && !filter.actionTypes.includes(record.action_type)) return false;
  if (filter.resource !== undefined && record.resource !== filter.resource) return false;
  if (filter.resourceId !== undefined && record.resource_id !== filter.resourceId) return false;
  if (filter.userId !== undefined && record.user.id !== filter.userId) return false;
  if (filter.userEmail !== undefined && record.user.email !== filter.userEmail) return false;
  if (filter.appId !== undefined && record.app_id !== filter.appId) return false;
  if (filter.outcome !== undefined && record.outcome !== filter.outcome) return false;
  if (filter.from !== undefined && record.created < filter.from) return false;
  if (filter.to !== undefined && record.created >= filter.to) return false;
  return true;
}
