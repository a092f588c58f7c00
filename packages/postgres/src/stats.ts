import type { StatsBucket, StoreStatsQuery } from '@audit-trail/core/store';

// Activity over time in SQL: one GROUP BY on `date_trunc` of `created` in UTC,
// over the range `[from, to)` of the account's `(account_id, created, id)`
// index (the equality filters as for a page). A partitioned table reads only
// the partitions of the range.

/**
 * The statement that counts one account's matching records per bucket of
 * `table` (schema-qualified and quoted): one row per bucket that holds any.
 *
 * @example
 * const { text, values } = statsStatement('"public"."audit_records"', query);
 */
export function statsStatement(table: string, query: StoreStatsQuery): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const param = (value: unknown): string => {
    values.push(value);
    return `$${values.length}`;
  };
  const { filter } = query;
  const where = [`account_id = ${param(query.accountId)}`];
  if (filter.actionTypes) {
    const [only] = filter.actionTypes;
    where.push(filter.actionTypes.length === 1 ? `action_type = ${param(only)}` : `action_type = ANY(${param(filter.actionTypes)}::text[])`);
  }
  if (filter.resource !== undefined) where.push(`resource = ${param(filter.resource)}`);
  if (filter.resourceId !== undefined) where.push(`resource_id = ${param(filter.resourceId)}`);
  if (filter.userId !== undefined) where.push(`user_id = ${param(filter.userId)}`);
  if (filter.userEmail !== undefined) where.push(`user_email = ${param(filter.userEmail)}`);
  if (filter.appId !== undefined) where.push(`app_id = ${param(filter.appId)}`);
  if (filter.outcome !== undefined) where.push(`outcome = ${param(filter.outcome)}`);
  where.push(`created >= ${param(filter.from)}::timestamptz`, `created < ${param(filter.to)}::timestamptz`);
  const unit = query.interval === 'hour' ? `'hour'` : `'day'`;
  return {
    // Grouped on the truncated timestamp; only the buckets are formatted as text.
    text:
      `SELECT to_char(bucket, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS start, count, failures FROM (` +
      `SELECT date_trunc(${unit}, created AT TIME ZONE 'UTC') AS bucket, count(*)::int AS count, ` +
      `(count(*) FILTER (WHERE outcome = 'failure'))::int AS failures ` +
      `FROM ${table} WHERE ${where.join(' AND ')} GROUP BY 1) AS buckets`,
    values,
  };
}

/** The buckets of {@link statsStatement}'s rows. */
export function statsOfRows(rows: ReadonlyArray<{ start: string; count: number | string; failures: number | string }>): StatsBucket[] {
  return rows.map((row) => ({ start: row.start, count: Number(row.count), failures: Number(row.failures) }));
}
