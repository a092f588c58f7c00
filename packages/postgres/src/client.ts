/**
 * What the store needs of a database client, described by shape so that any
 * `pg` 8 `Pool` fits (and so would a wrapper or another driver with the same
 * calls): the store does not pin its users to one `pg` version.
 */

/** The part of a query result the store reads. */
export interface PostgresQueryResult {
  rows: unknown[];
}

/** Runs one parameterised statement (`$1`, `$2`, … placeholders). */
export interface PostgresQueryable {
  query(text: string, values?: unknown[]): Promise<PostgresQueryResult>;
}

/** One connection checked out of a pool, like `pg.PoolClient`. */
export interface PostgresPoolClient extends PostgresQueryable {
  /** Returns the connection to the pool; with an error (or `true`), the pool discards it. */
  release(error?: Error | boolean): void;
  /**
   * `pg` clients are event emitters: a connection that fails while checked
   * out (the server terminated its backend, a network error) emits `'error'`,
   * which crashes the process if nobody listens. The store listens while it
   * holds a connection. Optional, for clients that report errors otherwise.
   */
  on?(event: 'error', listener: (error: Error) => void): unknown;
  removeListener?(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * A connection pool, like `pg.Pool`. Statements go through `query`; the
 * migration transaction checks out one connection with `connect`.
 */
export interface PostgresPool extends PostgresQueryable {
  connect(): Promise<PostgresPoolClient>;
}

/**
 * Runs `work` in a transaction on one connection of the pool: `COMMIT` when it
 * resolves, `ROLLBACK` and rethrow when it throws. A connection whose rollback
 * failed is in an unknown state, so the pool discards it.
 */
export async function inTransaction<T>(pool: PostgresPool, work: (client: PostgresPoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A connection lost while checked out emits 'error' (and its statement in
  // flight rejects on its own): noted here, so that it cannot crash the
  // process, and the connection is discarded rather than returned to the pool.
  const onError = (error: Error) => {
    broken ??= error;
  };
  client.on?.('error', onError);
  try {
    await client.query('BEGIN');
    try {
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    }
  } finally {
    // A broken connection keeps the listener: it may still emit while the pool discards it.
    if (!broken) client.removeListener?.('error', onError);
    client.release(broken ?? false);
  }
}
