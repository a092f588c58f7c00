import { AuditError } from '@audit-trail/core';
import { inTransaction, type SqliteDatabase } from './database.ts';

/** One step of the schema; `version`s run from 1 without gaps. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/** The table recording which migrations were applied, and when. */
export const SCHEMA_TABLE = 'audit_trail_schema';

/** The indexes of `audit_records`, by the filter whose range scans they serve. */
export const INDEXES = Object.freeze({
  created: 'audit_records_account_created',
  actionType: 'audit_records_account_action',
  userId: 'audit_records_account_user',
  resourceId: 'audit_records_account_resource',
});

/** The indexes and table of the hash chain (migration 2). */
export const CHAIN_OBJECTS = Object.freeze({
  /** `UNIQUE (account_id, chain_seq)`: two writers can never give two records one position. */
  chainIndex: 'audit_records_account_chain',
  /** The same for records without an account (SQLite's UNIQUE lets NULLs repeat). */
  noAccountChainIndex: 'audit_records_no_account_chain',
  /** One row per account: the link the next record is appended after. */
  headsTable: 'audit_chain_heads',
});

/** The tables of retention (migration 5). */
export const RETENTION_OBJECTS = Object.freeze({
  /** One row per account and prune: where its chain continues (CHAIN.md, "Retention"). */
  anchorsTable: 'audit_prune_anchors',
  /** Legal holds, active while `released_at` is NULL; released ones stay as history. */
  holdsTable: 'audit_legal_holds',
});

/**
 * The migrations, in order. Never edit one that has shipped: add the next.
 * Migration 1 reserved `chain_seq`, `prev_hash` and `hash`; migration 2
 * makes positions unique per account and adds the chain heads; migration 3
 * adds `changes`; 4 changes nothing (the numbers follow the PostgreSQL
 * store's, whose 4 adds its one-statement append); 5 adds the retention tables.
 */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  Object.freeze({
    version: 1,
    description: 'audit_records with keyset indexes per account',
    sql: `
      CREATE TABLE audit_records (
        id TEXT NOT NULL PRIMARY KEY,
        account_id TEXT,
        created TEXT NOT NULL,
        action_type TEXT NOT NULL,
        resource TEXT NOT NULL,
        resource_id TEXT,
        user_id TEXT NOT NULL,
        user_email TEXT,
        app_id TEXT,
        outcome TEXT NOT NULL,
        status_code INTEGER,
        request_method TEXT,
        request_path TEXT,
        request_route TEXT,
        request_ip TEXT,
        request_user_agent TEXT,
        request_id TEXT,
        trace_id TEXT,
        span_id TEXT,
        details TEXT NOT NULL,
        chain_seq INTEGER,
        prev_hash TEXT,
        hash TEXT
      ) STRICT;
      CREATE INDEX ${INDEXES.created} ON audit_records (account_id, created, id);
      CREATE INDEX ${INDEXES.actionType} ON audit_records (account_id, action_type, created, id);
      CREATE INDEX ${INDEXES.userId} ON audit_records (account_id, user_id, created, id);
      CREATE INDEX ${INDEXES.resourceId} ON audit_records (account_id, resource_id, created, id);
    `,
  }),
  Object.freeze({
    version: 2,
    description: 'hash chain: unique (account_id, chain_seq) and audit_chain_heads',
    sql: `
      CREATE UNIQUE INDEX ${CHAIN_OBJECTS.chainIndex} ON audit_records (account_id, chain_seq);
      CREATE UNIQUE INDEX ${CHAIN_OBJECTS.noAccountChainIndex} ON audit_records (chain_seq) WHERE account_id IS NULL;
      CREATE TABLE ${CHAIN_OBJECTS.headsTable} (
        account_id TEXT,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
      ) STRICT;
      CREATE UNIQUE INDEX ${CHAIN_OBJECTS.headsTable}_account ON ${CHAIN_OBJECTS.headsTable} (account_id);
      CREATE UNIQUE INDEX ${CHAIN_OBJECTS.headsTable}_no_account ON ${CHAIN_OBJECTS.headsTable} ((account_id IS NULL)) WHERE account_id IS NULL;
    `,
  }),
  Object.freeze({
    version: 3,
    description: 'changes: what an action changed, JSON or NULL when not recorded',
    // Existing rows get NULL: their records had no changes, and their chain documents none either.
    sql: `ALTER TABLE audit_records ADD COLUMN changes TEXT;`,
  }),
  Object.freeze({
    version: 4,
    // Nothing for SQLite: the PostgreSQL store's migration 4 (its one-statement append) has no counterpart here.
    description: 'no change (numbering kept in step with the PostgreSQL store)',
    sql: '',
  }),
  Object.freeze({
    version: 5,
    description: 'retention: prune anchors and legal holds',
    sql: `
      CREATE TABLE IF NOT EXISTS ${RETENTION_OBJECTS.anchorsTable} (
        account_id TEXT,
        first_seq INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        count INTEGER NOT NULL,
        before TEXT NOT NULL,
        created TEXT NOT NULL,
        bundle_digest TEXT NOT NULL,
        signature TEXT NOT NULL
      ) STRICT;
      CREATE INDEX IF NOT EXISTS ${RETENTION_OBJECTS.anchorsTable}_account ON ${RETENTION_OBJECTS.anchorsTable} (account_id, seq);
      CREATE TABLE IF NOT EXISTS ${RETENTION_OBJECTS.holdsTable} (
        account_id TEXT NOT NULL,
        reason TEXT,
        held_at TEXT NOT NULL,
        released_at TEXT
      ) STRICT;
      CREATE UNIQUE INDEX IF NOT EXISTS ${RETENTION_OBJECTS.holdsTable}_active ON ${RETENTION_OBJECTS.holdsTable} (account_id) WHERE released_at IS NULL;
    `,
  }),
]);

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION: number = MIGRATIONS.at(-1)!.version;

/** The highest applied migration, 0 for a database the store has never opened. */
export function schemaVersion(db: SqliteDatabase): number {
  const table = db.prepare("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?").get(SCHEMA_TABLE);
  if (!table) return 0;
  const row = db.prepare(`SELECT max(version) AS version FROM ${SCHEMA_TABLE}`).get() as { version: number | bigint | null };
  return Number(row.version ?? 0);
}

/**
 * Brings the schema up to the last of `migrations`, each in a transaction of
 * its own and recorded in `audit_trail_schema`; a no-op when it is current.
 * Refuses a database whose schema is newer than `migrations` know, since
 * writing to it could break the code that migrated it.
 */
export function migrate(db: SqliteDatabase, migrations: readonly Migration[] = MIGRATIONS): void {
  const known = migrations.at(-1)?.version ?? 0;
  const found = schemaVersion(db);
  if (found > known) {
    throw new AuditError(
      'store_failed',
      `sqliteStore: the database's audit schema is at version ${found}, newer than version ${known} ` +
        'that this @audit-trail/sqlite knows; upgrade @audit-trail/sqlite to open it',
    );
  }
  for (const migration of migrations) {
    if (migration.version <= found) continue;
    inTransaction(db, () => {
      db.exec(
        `CREATE TABLE IF NOT EXISTS ${SCHEMA_TABLE} (version INTEGER NOT NULL PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`,
      );
      // Another process may have applied it between our read and our write lock.
      if (schemaVersion(db) >= migration.version) return;
      if (migration.sql.trim() !== '') db.exec(migration.sql);
      db.prepare(`INSERT INTO ${SCHEMA_TABLE} (version, description, applied_at) VALUES (?, ?, ?)`).run(
        migration.version,
        migration.description,
        new Date().toISOString(),
      );
    });
  }
}
