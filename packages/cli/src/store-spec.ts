import fs from 'node:fs';
import type { Store } from '@audit-trail/core';
import { postgresStore } from '@audit-trail/postgres';
import { sqliteStore } from '@audit-trail/sqlite';
import Database from 'better-sqlite3';
import { UsageError } from './usage.ts';

/** Where `--store` points, parsed. */
export type StoreSpec = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

/** Parses `--store`: `sqlite:<file>` or a `postgres://` / `postgresql://` URL. Throws `UsageError` naming the flag. */
export function parseStoreSpec(spec: string | undefined): StoreSpec {
  if (spec === undefined || spec === '') throw new UsageError('--store is required: sqlite:<file> or postgres://user:pass@host/db');
  if (spec.startsWith('sqlite:')) {
    const file = spec.slice('sqlite:'.length);
    if (file === '' || file === ':memory:') throw new UsageError('--store: sqlite: needs the path of a database file, e.g. sqlite:./audit.db');
    return { kind: 'sqlite', file };
  }
  if (/^postgres(ql)?:\/\//.test(spec)) return { kind: 'postgres', url: spec };
  if (spec.startsWith('memory:')) throw new UsageError('--store: memory: holds nothing outside the process that wrote it; use sqlite:<file> or postgres://…');
  // The spec may hold a password: name only its scheme.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(spec)?.[0] ?? spec.slice(0, 20);
  throw new UsageError(`--store: unknown store "${scheme}…": use sqlite:<file> or postgres://user:pass@host/db`);
}

export interface OpenOptions {
  /** PostgreSQL schema (`--schema`). */
  schema?: string;
  /** PostgreSQL table (`--table`). */
  table?: string;
  /** Open SQLite for writing (`prune`, `hold`); every other command only reads. */
  writable?: boolean;
}

/**
 * Opens the store read-only where the database allows it: SQLite read-only
 * (a file that is missing is an error, never created), PostgreSQL with a
 * small pool. Only `prune` and `hold` write (`writable`).
 */
export function openStore(spec: StoreSpec, options: OpenOptions = {}): Store {
  if (spec.kind === 'sqlite') {
    if (options.schema !== undefined || options.table !== undefined) throw new UsageError('--schema and --table apply to PostgreSQL only');
    if (!fs.existsSync(spec.file)) throw new UsageError(`--store: no SQLite database at ${spec.file}`);
    const db = new Database(spec.file, { readonly: !options.writable, fileMustExist: true });
    try {
      return sqliteStore({ database: db, closeDatabase: true });
    } catch (error) {
      db.close();
      if (/readonly/i.test(String(error))) {
        throw new UsageError(`--store: ${spec.file} has an older audit schema; open it once with the app (or a writable sqliteStore) to migrate it`);
      }
      throw error;
    }
  }
  try {
    return postgresStore({
      connectionString: spec.url,
      poolSize: 2,
      ...(options.schema !== undefined ? { schema: options.schema } : {}),
      ...(options.table !== undefined ? { table: options.table } : {}),
    });
  } catch (error) {
    const message = String((error as Error).message);
    const flag = /\bschema\b/.test(message) ? '--schema' : /\btable\b/.test(message) ? '--table' : '--store';
    throw new UsageError(`${flag}: ${message.replace(/^postgresStore: /, '')}`);
  }
}
