/** The values the store binds to `?` parameters. */
export type SqliteValue = string | number | null;

/**
 * A prepared statement, described by the members the store calls. The
 * statements of better-sqlite3, `node:sqlite` and `bun:sqlite` all fit.
 * Parameters are typed `unknown` so that drivers' generic statement types are
 * assignable; the store binds only `SqliteValue`s.
 */
export interface SqliteStatement {
  /** Executes the statement with positional parameters; the result is not used. */
  run(...parameters: unknown[]): unknown;
  /** Executes the statement and returns every row as an object keyed by column name. */
  all(...parameters: unknown[]): unknown[];
  /** Executes the statement and returns its first row, or `undefined` (or `null`) when there is none. */
  get(...parameters: unknown[]): unknown;
}

/**
 * An open SQLite database, described by the members the store calls, so that
 * any driver version fits: a better-sqlite3 `Database`, a `node:sqlite`
 * `DatabaseSync` or a `bun:sqlite` `Database`.
 */
export interface SqliteDatabase {
  /** Compiles one SQL statement; the store caches what this returns and reuses it. */
  prepare(sql: string): SqliteStatement;
  /** Executes SQL that may hold several statements and returns no rows (DDL, `BEGIN`, `COMMIT`, `PRAGMA x = y`). */
  exec(sql: string): unknown;
  /** Closes the connection; the store calls it only when it owns the database. */
  close(): unknown;
}

/** Whether a value has the shape of a `SqliteDatabase`. */
export function isSqliteDatabase(value: unknown): value is SqliteDatabase {
  if (typeof value !== 'object' || value === null) return false;
  const db = value as Record<string, unknown>;
  return typeof db.prepare === 'function' && typeof db.exec === 'function' && typeof db.close === 'function';
}

/**
 * Runs `work` in an immediate transaction: the write lock is taken at `BEGIN`,
 * so a busy database waits there (`busy_timeout`) rather than failing halfway.
 * Commits when `work` returns, rolls back when anything throws.
 */
export function inTransaction<T>(db: SqliteDatabase, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // SQLite may already have rolled back (or never begun); the first error is the one to report.
    }
    throw error;
  }
}
