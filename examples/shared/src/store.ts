import { memoryStore, type Store } from '@audit-trail/core';
import { postgresStore } from '@audit-trail/postgres';
import { spooled, sqliteStore } from '@audit-trail/sqlite';

/** The store named by `AUDIT_STORE` when it is not set. */
export const DEFAULT_AUDIT_STORE = 'sqlite:./audit.db';

/**
 * Opens the store named by an `AUDIT_STORE` value: `memory:`, `sqlite:<file>`
 * or a `postgres://…` (or `postgresql://…`) URL. Anything else throws an
 * error that says what is accepted. With `spool` (the examples read
 * `AUDIT_SPOOL`), a PostgreSQL store sits behind a durable local spool in
 * that SQLite file: records are kept there until PostgreSQL has them.
 */
export async function openStore(spec: string = DEFAULT_AUDIT_STORE, spool: string | undefined = process.env.AUDIT_SPOOL): Promise<Store> {
  if (spec === 'memory:') return memoryStore();
  if (spec.startsWith('sqlite:')) {
    const file = spec.slice('sqlite:'.length);
    if (!file) throw new Error('AUDIT_STORE="sqlite:" needs a file, e.g. sqlite:./audit.db');
    return sqliteStore({ database: file });
  }
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const store = postgresStore({ connectionString: spec });
    return spool ? spooled(store, { path: spool }) : store;
  }
  throw new Error(`AUDIT_STORE="${spec}" is not supported: use memory:, sqlite:<file> or postgres://…`);
}
