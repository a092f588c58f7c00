import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditError, verify } from '@audit-trail/core';
import Database from 'better-sqlite3';
import { sampleRecord } from '@audit-trail/store-conformance';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sqliteStore } from './index.ts';
import { migrate, MIGRATIONS, SCHEMA_TABLE, SCHEMA_VERSION, schemaVersion, type Migration } from './schema.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-trail-sqlite-schema-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const opened: Database.Database[] = [];
afterEach(() => {
  for (const db of opened.splice(0)) db.close();
});
/** A connection to a new database file of its own. */
const freshDatabase = (): Database.Database => {
  const db = new Database(path.join(dir, `${crypto.randomUUID()}.db`));
  opened.push(db);
  return db;
};

type SchemaRow = { version: number; description: string; applied_at: string };
const appliedMigrations = (db: Database.Database): SchemaRow[] =>
  db.prepare(`SELECT version, description, applied_at FROM ${SCHEMA_TABLE} ORDER BY version`).all() as SchemaRow[];

describe('schema migrations', () => {
  it('numbers migrations 1, 2, 3… without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
  });

  it('applies each migration once and records it', async () => {
    const db = freshDatabase();
    expect(schemaVersion(db)).toBe(0);
    await sqliteStore({ database: db }).close();
    const applied = appliedMigrations(db);
    expect(applied.map((row) => row.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(applied[0]!.description).toBe(MIGRATIONS[0]!.description);
    expect(applied[0]!.applied_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    // Reopening finds the schema current: nothing runs again (v1's CREATE TABLE would fail if it did).
    await sqliteStore({ database: db }).close();
    await sqliteStore({ database: db }).close();
    expect(appliedMigrations(db)).toEqual(applied);
  });

  it('applies only the migrations a database lacks, on reopen', () => {
    const db = freshDatabase();
    migrate(db);
    const next: Migration = { version: SCHEMA_VERSION + 1, description: 'a later column', sql: 'ALTER TABLE audit_records ADD COLUMN later TEXT' };
    migrate(db, [...MIGRATIONS, next]);
    migrate(db, [...MIGRATIONS, next]);
    expect(appliedMigrations(db).map((row) => row.version)).toEqual([...MIGRATIONS.map((m) => m.version), next.version]);
    expect(db.prepare("SELECT count(*) AS n FROM pragma_table_info('audit_records') WHERE name = 'later'").get()).toEqual({ n: 1 });
  });

  it('rolls a failing migration back entirely', () => {
    const db = freshDatabase();
    migrate(db);
    const broken: Migration = {
      version: SCHEMA_VERSION + 1,
      description: 'half right',
      sql: 'CREATE TABLE extra (x TEXT); CREATE TABLE audit_records (y TEXT);',
    };
    expect(() => migrate(db, [...MIGRATIONS, broken])).toThrow(/already exists/);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'extra'").get()).toBeUndefined();
  });

  it('upgrades a version 1 database: its records stay, unchained, and new ones chain', async () => {
    const db = freshDatabase();
    migrate(db, MIGRATIONS.slice(0, 1));
    db.prepare(
      `INSERT INTO audit_records (id, account_id, created, action_type, resource, user_id, outcome, details)
       VALUES ('aud_legacy', 'acc_old', '2025-01-01T00:00:00.000Z', 'refund', 'payment', 'usr_alice', 'success', '{}')`,
    ).run();
    const store = sqliteStore({ database: db });
    await store.append([sampleRecord({ account_id: 'acc_old' })]);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT chain_seq FROM audit_records WHERE account_id = 'acc_old' ORDER BY created").all()).toEqual([
      { chain_seq: null },
      { chain_seq: 1 },
    ]);
    expect((await store.scanUnchained!('acc_old', null, 10)).map((r) => r.id)).toEqual(['aud_legacy']);
    await store.close();
  });

  it('upgrades a version 2 database in place: its chained records still verify, and new ones chain with changes', async () => {
    const file = path.join(dir, `${crypto.randomUUID()}.db`);
    const account = 'acc_v2';
    const first = sqliteStore({ database: file });
    const legacy = [sampleRecord({ account_id: account }), sampleRecord({ account_id: account })];
    await first.append(legacy);
    await first.close();
    // What @audit-trail/sqlite wrote before migration 3: the same rows, without the column.
    const db = new Database(file);
    db.exec(`ALTER TABLE audit_records DROP COLUMN changes; DELETE FROM ${SCHEMA_TABLE} WHERE version >= 3;`);
    expect(schemaVersion(db)).toBe(2);
    db.close();

    const store = sqliteStore({ database: file });
    try {
      const changed = sampleRecord({ account_id: account, changes: { url: { from: 'https://a.example', to: 'https://b.example' } } });
      await store.append([changed]);
      expect(await store.get(account, legacy[0]!.id)).toEqual(legacy[0]);
      expect((await store.get(account, changed.id))?.changes).toEqual(changed.changes);
      expect(await verify(store)).toMatchObject({ ok: true });
    } finally {
      await store.close();
    }
    const reopened = new Database(file);
    opened.push(reopened);
    expect(schemaVersion(reopened)).toBe(SCHEMA_VERSION);
    expect(reopened.prepare('SELECT changes FROM audit_records ORDER BY chain_seq').all()).toEqual([
      { changes: null },
      { changes: null },
      { changes: JSON.stringify({ url: { from: 'https://a.example', to: 'https://b.example' } }) },
    ]);
  });

  it('refuses a database whose schema is newer than it knows', async () => {
    const file = path.join(dir, 'newer.db');
    const db = new Database(file);
    migrate(db);
    db.prepare(`INSERT INTO ${SCHEMA_TABLE} (version, description, applied_at) VALUES (?, ?, ?)`).run(
      SCHEMA_VERSION + 1,
      'from the future',
      new Date().toISOString(),
    );
    db.close();

    const newer = `the database's audit schema is at version ${SCHEMA_VERSION + 1}, newer than version ${SCHEMA_VERSION}`;
    // On the calling thread opening is synchronous, and so is the error.
    const open = () => sqliteStore({ database: file, thread: false });
    expect(open).toThrow(AuditError);
    expect(open).toThrow(newer);
    // It closed the database it opened: SQLite removed the WAL file with the last connection.
    expect(fs.existsSync(`${file}-wal`)).toBe(false);

    // In a worker thread the store is returned at once; `ready` and every call reject with the reason.
    const threaded = sqliteStore({ database: file });
    const failure = await threaded.ready.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AuditError);
    expect((failure as AuditError).code).toBe('store_failed');
    expect((failure as AuditError).message).toContain(newer);
    await expect(threaded.append([sampleRecord()])).rejects.toThrow(newer);
    await threaded.close();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
  });

  it('shares a database with the app: no PRAGMA user_version, tables of its own names', async () => {
    const db = freshDatabase();
    db.exec('PRAGMA user_version = 42; CREATE TABLE payments (id TEXT PRIMARY KEY)');
    await sqliteStore({ database: db }).close();
    expect(db.pragma('user_version', { simple: true })).toBe(42);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    expect(tables).toEqual([
      { name: 'audit_chain_heads' },
      { name: 'audit_legal_holds' },
      { name: 'audit_prune_anchors' },
      { name: 'audit_records' },
      { name: SCHEMA_TABLE },
      { name: 'payments' },
    ]);
  });
});
