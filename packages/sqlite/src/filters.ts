import type { StoreFilter } from '@audit-trail/core/store';
import type { SqliteValue } from './database.ts';
import { INDEXES } from './schema.ts';

/** Filters compared with `=`, and their columns. */
const EQUALITY_FILTERS = [
  ['resource', 'resource'],
  ['resourceId', 'resource_id'],
  ['userId', 'user_id'],
  ['userEmail', 'user_email'],
  ['appId', 'app_id'],
  ['outcome', 'outcome'],
] as const satisfies ReadonlyArray<readonly [keyof StoreFilter, string]>;

/**
 * The `WHERE` terms of a query of one account: the account, the action types
 * and every equality filter (the time bounds are the caller's: a page and a
 * count bound the `(created, id)` range differently). Pages and stats share it.
 */
export function filterTerms(accountId: string, filter: StoreFilter): { where: string[]; parameters: SqliteValue[] } {
  const where = ['account_id = ?'];
  const parameters: SqliteValue[] = [accountId];
  const actionTypes = filter.actionTypes ?? [];
  if (actionTypes.length === 1) where.push('action_type = ?');
  else if (actionTypes.length > 1) where.push(`action_type IN (${actionTypes.map(() => '?').join(', ')})`);
  parameters.push(...actionTypes);
  for (const [key, column] of EQUALITY_FILTERS) {
    const value = filter[key];
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    parameters.push(value);
  }
  return { where, parameters };
}

/**
 * The index to scan. Without ANALYZE statistics SQLite's planner takes the
 * `(account_id, created, id)` index whenever the range is bound at both ends,
 * even when an equality filter has an index of its own that reads far fewer
 * rows; naming the index keeps plans right and stable as the table grows.
 * Several action types share the time index: an `IN` list on the action
 * index would return rows out of order and need a sort.
 */
export function indexFor(filter: StoreFilter): string {
  if (filter.resourceId !== undefined) return INDEXES.resourceId;
  if (filter.userId !== undefined) return INDEXES.userId;
  if (filter.actionTypes?.length === 1) return INDEXES.actionType;
  return INDEXES.created;
}
