import { ApiError } from './errors.ts';
import { MAX_LIMIT, MAX_STATS_BUCKETS } from './query.ts';
import { bucketStart, type KeysetPosition, type StatsBucket, type StatsInterval, type Store, type StoreFilter, type StoreStatsQuery } from './store.ts';

/** The length of a bucket in milliseconds. */
export const INTERVAL_MS: Readonly<Record<StatsInterval, number>> = Object.freeze({ hour: 3_600_000, day: 86_400_000 });

/** The range `GET /audit/stats` covers when the query names none: the last 7 days. */
export const DEFAULT_STATS_RANGE_MS = 7 * INTERVAL_MS.day;

/** The answer of `GET /audit/stats`. */
export interface AuditStats {
  interval: StatsInterval;
  /** Oldest first, one per bucket of the range, empty ones included. */
  buckets: StatsBucket[];
}

/**
 * The bucket starts of a range: from the bucket `from` falls in up to the one
 * holding the last instant before `to`. Throws an `ApiError` (400) when the
 * range is empty or needs more than {@link MAX_STATS_BUCKETS} buckets.
 */
export function bucketStarts(from: string, to: string, interval: StatsInterval): string[] {
  const step = INTERVAL_MS[interval];
  const first = Date.parse(bucketStart(from, interval));
  const end = Date.parse(to);
  if (!(end > Date.parse(from))) throw new ApiError(400, 'api_request_error', 'to must be later than from', 'to');
  const count = Math.ceil((end - first) / step);
  if (count > MAX_STATS_BUCKETS) {
    throw new ApiError(
      400,
      'api_request_error',
      `the range needs ${count} ${interval} buckets, more than ${MAX_STATS_BUCKETS}: shorten it or choose a longer interval`,
      'interval',
    );
  }
  const starts: string[] = [];
  for (let i = 0; i < count; i++) starts.push(new Date(first + i * step).toISOString());
  return starts;
}

/**
 * Counts by paging through `query` in `(created, id)` order, for a store
 * without `stats`. Memory stays constant: one page and the bucket map.
 */
export async function statsByPaging(store: Store, query: StoreStatsQuery): Promise<StatsBucket[]> {
  const buckets = new Map<string, StatsBucket>();
  let after: KeysetPosition | null = null;
  for (;;) {
    const page = await store.query({ accountId: query.accountId, filter: query.filter, order: 'asc', limit: MAX_LIMIT, after });
    for (const record of page) {
      const start = bucketStart(record.created, query.interval);
      let bucket = buckets.get(start);
      if (!bucket) buckets.set(start, (bucket = { start, count: 0, failures: 0 }));
      bucket.count++;
      if (record.outcome === 'failure') bucket.failures++;
    }
    if (page.length < MAX_LIMIT) break;
    const last = page[page.length - 1]!;
    after = { created: last.created, id: last.id };
  }
  return [...buckets.values()];
}

/**
 * Activity over time for one account and filter: the store's own `stats`
 * when it has one, counting by paging otherwise; every bucket of the range,
 * oldest first. `filter.from` and `filter.to` default to the last 7 days.
 */
export async function auditStats(
  store: Store,
  accountId: string,
  filter: StoreFilter,
  interval: StatsInterval,
  now: number = Date.now(),
): Promise<AuditStats> {
  const to = filter.to ?? new Date(now).toISOString();
  const from = filter.from ?? new Date(Date.parse(to) - DEFAULT_STATS_RANGE_MS).toISOString();
  const starts = bucketStarts(from, to, interval);
  const query: StoreStatsQuery = { accountId, filter: { ...filter, from, to }, interval };
  const counted = store.stats ? await store.stats(query) : await statsByPaging(store, query);
  const byStart = new Map(counted.map((bucket) => [bucket.start, bucket]));
  return {
    interval,
    buckets: starts.map((start) => {
      const bucket = byStart.get(start);
      return { start, count: Number(bucket?.count ?? 0), failures: Number(bucket?.failures ?? 0) };
    }),
  };
}
