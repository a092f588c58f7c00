import { AuditError, type AuditRecord, type Store, type StoreQuery } from '@audit-trail/core';
import pg from 'pg';
import type { PostgresPool } from './client.ts';
import { migrate, tableNames, type TableNames } from './migrations.ts';

export interface PostgresStoreOptions {
  /**
   * A PostgreSQL URL, e.g. `postgres://user:pass@host:5432/db`. The store
   * creates a `pg.Pool` from it and ends that pool on `close()`. Give this or
   * `pool`, not both.
   */
  connectionString?: string;
  /**
   * A pool the app already has: a `pg.Pool`, or anything with its
   * `query(text, values)` and `connect()` calls. The store borrows it and
   * never ends it. Give this or `connectionString`, not both.
   */
  pool?: PostgresPool;
  /** The schema of the audit table; created when missing. Default `public`. */
  schema?: string;
  /** The audit table's name. Default `audit_records`. */
  table?: string;
  /**
   * The most connections of the pool created from `connectionString`.
   * Default 10. Not allowed with `pool`: size that pool where it is made.
   */
  poolSize?: number;
}

/** A {@link Store} on PostgreSQL. */
export interface PostgresStore extends Store {
  /**
   * Applies pending migrations now and resolves when the table is ready.
   * Optional: the first append, query or get does it too. Call it at startup
   * to fail fast, e.g. on a schema newer than this code. Safe to call again
   * and from many processes at once.
   */
  migrate(): Promise<void>;
}

/** The options a store runs with, after defaults; frozen. */
interface ResolvedOptions {
  readonly connectionString: string | undefined;
  readonly pool: PostgresPool | undefined;
  readonly schema: string;
  readonly table: string;
  readonly poolSize: number;
}

const DEFAULT_POOL_SIZE = 10;
/** Lowercase identifiers need no quoting in hand-written SQL; 50 leaves room for index name suffixes. */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,49}$/;

/** The columns written by `append`, in `UNNEST` argument order, with their array types. */
const INSERT_COLUMNS = [
  ['id', 'text[]'],
  ['account_id', 'text[]'],
  ['created', 'timestamptz[]'],
  ['action_type', 'text[]'],
  ['resource', 'text[]'],
  ['resource_id', 'text[]'],
  ['user_id', 'text[]'],
  ['user_email', 'text[]'],
  ['app_id', 'text[]'],
  ['outcome', 'text[]'],
  ['status_code', 'integer[]'],
  ['request', 'jsonb[]'],
  ['trace_id', 'text[]'],
  ['span_id', 'text[]'],
  ['details', 'jsonb[]'],
] as const;

// `created` is formatted in SQL rather than parsed into a `Date`, so that a
// borrowed pool's type parsers cannot change it; stored with milliseconds, it
// reads back exactly as written. The alias must differ from the column: ORDER
// BY would otherwise sort by the text and leave the indexes unused.
const SELECT_COLUMNS = `id, account_id, to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_iso,
  action_type, resource, resource_id, user_id, user_email, app_id, outcome, status_code, request, trace_id, span_id, details`;

/** A row as `SELECT_COLUMNS` reads it. */
interface AuditRow {
  id: string;
  account_id: string | null;
  created_iso: string;
  action_type: string;
  resource: string;
  resource_id: string | null;
  user_id: string;
  user_email: string | null;
  app_id: string | null;
  outcome: AuditRecord['outcome'];
  status_code: number | null;
  request: AuditRecord['request'] | string;
  trace_id: string | null;
  span_id: string | null;
  details: AuditRecord['details'] | string;
}

/**
 * A store on PostgreSQL, for apps that run several instances against one
 * database. Writers need no coordination: every batch is one `INSERT … ON
 * CONFLICT DO NOTHING`, so concurrent and retried appends are safe. The table
 * and its indexes are created by versioned migrations on first use, under an
 * advisory lock, so simultaneous first starts migrate once.
 *
 * @example
 * import { createAuditor } from '@audit-trail/core';
 * import { postgresStore } from '@audit-trail/postgres';
 *
 * const store = postgresStore({ connectionString: process.env.DATABASE_URL });
 * await store.migrate(); // optional: fail at startup rather than on first use
 * const auditor = createAuditor({ store });
 *
 * @example
 * // Share the app's pool; the store will not end it.
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
 * const store = postgresStore({ pool, schema: 'audit' });
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  const config = resolveOptions(options);
  const names = tableNames(config.schema, config.table);
  const ownPool = config.pool === undefined ? createPool(config) : undefined;
  const pool: PostgresPool = config.pool ?? ownPool!;
  const statements = storeStatements(names);

  let migrated: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  const migrateOnce = (): Promise<void> => {
    // A failed migration (say, the database was not up yet) is retried by the next call.
    migrated ??= migrate(pool, names).catch((error: unknown) => {
      migrated = undefined;
      throw error;
    });
    return migrated;
  };

  const ready = async (operation: string): Promise<void> => {
    if (closing) throw new AuditError('closed', `postgresStore: ${operation} after close()`);
    await migrateOnce();
  };

  return {
    async migrate() {
      await ready('migrate');
    },

    async append(records) {
      await ready('append');
      if (records.length === 0) return;
      await pool.query(statements.insert, insertValues(records));
    },

    async query(query) {
      await ready('query');
      const { text, values } = pageStatement(statements.select, query);
      const { rows } = await pool.query(text, values);
      return (rows as AuditRow[]).map(recordOfRow);
    },

    async get(accountId, id) {
      await ready('get');
      const { rows } = await pool.query(statements.get, [accountId, id]);
      const row = rows[0] as AuditRow | undefined;
      return row ? recordOfRow(row) : null;
    },

    close() {
      closing ??= (async () => {
        // Let a migration in flight finish rather than cut its connection.
        await migrated?.catch(() => undefined);
        await ownPool?.end();
      })();
      return closing;
    },
  };
}

function resolveOptions(options: PostgresStoreOptions): ResolvedOptions {
  if (!options || typeof options !== 'object') {
    throw new TypeError('postgresStore: options must be an object with connectionString or pool');
  }
  const { connectionString, pool, schema = 'public', table = 'audit_records', poolSize } = options;
  if ((connectionString === undefined) === (pool === undefined)) {
    throw new TypeError('postgresStore: give exactly one of connectionString and pool');
  }
  if (connectionString !== undefined && (typeof connectionString !== 'string' || connectionString.trim() === '')) {
    throw new TypeError('postgresStore: connectionString must be a non-empty string');
  }
  if (pool !== undefined && (typeof pool?.query !== 'function' || typeof pool.connect !== 'function')) {
    throw new TypeError('postgresStore: pool must have query(text, values) and connect(), like a pg.Pool');
  }
  if (poolSize !== undefined) {
    if (pool !== undefined) throw new TypeError('postgresStore: poolSize applies only with connectionString; size your own pool where you create it');
    if (!Number.isInteger(poolSize) || poolSize < 1) throw new TypeError('postgresStore: poolSize must be a positive integer');
  }
  if (typeof schema !== 'string' || !IDENTIFIER.test(schema)) {
    throw new TypeError('postgresStore: schema must be a lowercase SQL identifier ([a-z_][a-z0-9_]*, at most 50 characters)');
  }
  if (typeof table !== 'string' || !IDENTIFIER.test(table)) {
    throw new TypeError('postgresStore: table must be a lowercase SQL identifier ([a-z_][a-z0-9_]*, at most 50 characters)');
  }
  return Object.freeze({ connectionString, pool, schema, table, poolSize: poolSize ?? DEFAULT_POOL_SIZE });
}

function createPool(config: ResolvedOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.connectionString,
    max: config.poolSize,
    fallback_application_name: 'audit-trail',
  });
  // An idle connection the server drops is discarded by the pool; without a
  // listener the 'error' event would crash the process. Statements in flight
  // reject on their own and reach the auditor's onError.
  pool.on('error', () => undefined);
  return pool;
}

/** The fixed statements of one table, built once. */
export function storeStatements(names: TableNames) {
  const columns = INSERT_COLUMNS.map(([name]) => name).join(', ');
  const arrays = INSERT_COLUMNS.map(([, type], i) => `$${i + 1}::${type}`).join(', ');
  return {
    // No conflict target: the primary key today, and still (id, created) on a
    // table converted to partitions by `created` (see the README).
    insert: `INSERT INTO ${names.qualifiedTable} (${columns}) SELECT * FROM UNNEST(${arrays}) ON CONFLICT DO NOTHING`,
    select: `SELECT ${SELECT_COLUMNS} FROM ${names.qualifiedTable}`,
    get: `SELECT ${SELECT_COLUMNS} FROM ${names.qualifiedTable} WHERE account_id = $1 AND id = $2`,
  };
}

/** One array per column, for the `UNNEST` insert. */
function insertValues(records: readonly AuditRecord[]): unknown[][] {
  const columns: unknown[][] = INSERT_COLUMNS.map(() => new Array<unknown>(records.length));
  records.forEach((r, i) => {
    const row = [
      r.id,
      r.account_id,
      r.created,
      r.action_type,
      r.resource,
      r.resource_id,
      r.user.id,
      r.user.email,
      r.app_id,
      r.outcome,
      r.status_code,
      JSON.stringify(r.request),
      r.trace?.trace_id ?? null,
      r.trace?.span_id ?? null,
      JSON.stringify(r.details),
    ];
    row.forEach((value, column) => {
      columns[column]![i] = value;
    });
  });
  return columns;
}

/**
 * The statement of one page: equality filters on the account and the chosen
 * columns, then a range on `(created, id)` read in index order, so a page
 * costs the same at any depth.
 */
export function pageStatement(select: string, query: StoreQuery): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const param = (value: unknown): string => {
    values.push(value);
    return `$${values.length}`;
  };
  const where = [`account_id = ${param(query.accountId)}`];
  const { filter } = query;
  if (filter.actionTypes) {
    // A single value stays an equality so the planner can read the action index in order.
    const [only] = filter.actionTypes;
    where.push(
      filter.actionTypes.length === 1 ? `action_type = ${param(only)}` : `action_type = ANY(${param(filter.actionTypes)}::text[])`,
    );
  }
  if (filter.resource !== undefined) where.push(`resource = ${param(filter.resource)}`);
  if (filter.resourceId !== undefined) where.push(`resource_id = ${param(filter.resourceId)}`);
  if (filter.userId !== undefined) where.push(`user_id = ${param(filter.userId)}`);
  if (filter.userEmail !== undefined) where.push(`user_email = ${param(filter.userEmail)}`);
  if (filter.appId !== undefined) where.push(`app_id = ${param(filter.appId)}`);
  if (filter.outcome !== undefined) where.push(`outcome = ${param(filter.outcome)}`);
  if (filter.from !== undefined) where.push(`created >= ${param(filter.from)}::timestamptz`);
  if (filter.to !== undefined) where.push(`created < ${param(filter.to)}::timestamptz`);
  const direction = query.order === 'asc' ? 'ASC' : 'DESC';
  if (query.after) {
    const [beyond, reaching] = query.order === 'asc' ? ['>', '>='] : ['<', '<='];
    const created = `${param(query.after.created)}::timestamptz`;
    // The plain bound on `created` repeats what the row comparison implies, so
    // that a table partitioned by `created` skips partitions beyond the page.
    where.push(`created ${reaching} ${created}`, `(created, id) ${beyond} (${created}, ${param(query.after.id)})`);
  }
  return {
    text: `${select} WHERE ${where.join(' AND ')} ORDER BY created ${direction}, id ${direction} LIMIT ${param(query.limit)}`,
    values,
  };
}

function recordOfRow(row: AuditRow): AuditRecord {
  return {
    id: row.id,
    created: row.created_iso,
    action_type: row.action_type,
    resource: row.resource,
    resource_id: row.resource_id,
    user: { id: row.user_id, email: row.user_email },
    account_id: row.account_id,
    app_id: row.app_id,
    outcome: row.outcome,
    status_code: row.status_code,
    request: fromJson(row.request),
    trace: row.trace_id === null || row.span_id === null ? null : { trace_id: row.trace_id, span_id: row.span_id },
    details: fromJson(row.details),
  };
}

/** `pg` parses jsonb by default; a borrowed pool may have turned that off. */
function fromJson<T>(value: T | string): T {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}
