import type { StatsBucket, StatsInterval, StoreStatsQuery } from '@audit-trail/core/store';
import type { SqliteValue } from './database.ts';
import { filterTerms, indexFor } from './filters.ts';

// Activity over time in SQL: one GROUP BY on the time bucket over the range
// `[from, to)` of the account's `(account_id, created, id)` order. `created`
// is ISO 8601 UTC text, so a bucket is a prefix of it: 13 characters for the
// hour (`2026-11-27T10`), 10 for the day. Self-contained (SQL and parameters
// in, plain rows out) so that it runs wherever the store's connection lives.

const PREFIX: Readonly<Record<StatsInterval, number>> = Object.freeze({ hour: 13, day: 10 });

/** A row of {@link statsQuery}'s SQL. */
export interface StatsRow {
  bucket: string;
  count: number | bigint;
  failures: number | bigint | null;
}

/**
 * The SQL and parameters that count one account's matching records per
 * bucket: one row per bucket that holds any.
 *
 * @example
 * const { sql, parameters } = statsQuery({ accountId: 'acc_1', filter: { from, to }, interval: 'hour' });
 * const buckets = statsOfRows(db.prepare(sql).all(...parameters), 'hour');
 */
export function statsQuery(query: StoreStatsQuery): { sql: string; parameters: SqliteValue[] } {
  const { filter } = query;
  const { where, parameters } = filterTerms(query.accountId, filter);
  // Ids are never empty: `(created, id) >= (from, '')` is `created >= from`, a bounded index range.
  where.push('(created, id) > (?, ?)', '(created, id) < (?, ?)');
  parameters.push(filter.from, '', filter.to, '');
  const length = PREFIX[query.interval];
  return {
    sql:
      `SELECT substr(created, 1, ${length}) AS bucket, count(*) AS count, sum(outcome = 'failure') AS failures ` +
      `FROM audit_records INDEXED BY ${indexFor(filter)} WHERE ${where.join(' AND ')} GROUP BY bucket`,
    parameters,
  };
}

/** The buckets of {@link statsQuery}'s rows, each `start` a full instant. */
export function statsOfRows(rows: readonly StatsRow[], interval: StatsInterval): StatsBucket[] {
  const suffix = interval === 'hour' ? ':00:00.000Z' : 'T00:00:00.000Z';
  return rows.map((row) => ({ start: `${row.bucket}${suffix}`, count: Number(row.count), failures: Number(row.failures ?? 0) }));
}
