import { type AuditChanges, type AuditRecord, type JsonValue, type Outcome } from '@audit-trail/core';
import {
  compareAccounts,
  compareKeyset,
  GENESIS_HASH,
  groupByAccount,
  linkRecordsSync,
  nodeChainHasher,
  wellFormed,
  type ChainedRecord,
  type ChainHead,
  type KeysetPosition,
  type RetentionStorage,
  type StatsBucket,
  type StoreQuery,
  type StoreStatsQuery,
} from '@audit-trail/core/store';
import { createRequire } from 'node:module';
import { inTransaction, type SqliteDatabase, type SqliteStatement, type SqliteValue } from './database.ts';
import { sqliteRetention } from './prune.ts';
import { filterTerms, indexFor } from './filters.ts';
import { CHAIN_OBJECTS, migrate } from './schema.ts';
import { statsOfRows, statsQuery, type StatsRow } from './stats.ts';

/**
 * What an engine needs to open: everything in it can cross a thread
 * boundary (structured clone), so that a worker thread can host the engine.
 */
export interface EngineConfig {
  /** A path, or (in the calling thread only) an open database. */
  readonly database: string | SqliteDatabase;
  readonly busyTimeout: number;
  readonly synchronous: 'normal' | 'full';
  /** The chain key's bytes, `null` for plain SHA-256, `false` for no chain. */
  readonly chain: Uint8Array | null | false;
  /** Whether `close()` closes the database. */
  readonly closeDatabase: boolean;
  /**
   * `'writer'` migrates the schema and appends; `'reader'` only reads, on a
   * connection of its own (opened after a writer migrated the file).
   */
  readonly role: 'writer' | 'reader';
  /**
   * Turns SQLite's automatic checkpoints off, so that no commit pays for
   * one: the reader's thread checkpoints beside the writer instead (WAL lets
   * a checkpoint run while a writer commits). Only the worker's writer sets it.
   */
  readonly manualCheckpoints: boolean;
}

/**
 * The synchronous store: every method runs to completion on the calling
 * thread. `sqliteStore` hosts it in a worker thread (the default) or, for a
 * database you pass in or `thread: false`, on the thread that made it.
 */
export interface Engine {
  append(records: readonly AuditRecord[]): void;
  query(query: StoreQuery): AuditRecord[];
  get(accountId: string, id: string): AuditRecord | null;
  /** Counts per time bucket (`Store.stats`). */
  stats(query: StoreStatsQuery): StatsBucket[];
  /** The retention tables (`Store.retention`), prepared on first use; `null` without the chain. */
  retention(): RetentionStorage | null;
  /** Present when the chain is on. */
  readonly chain: {
    scanChain(accountId: string | null, afterSeq: number | null, limit: number): ChainedRecord[];
    scanUnchained(accountId: string | null, since: string | null, limit: number): AuditRecord[];
    chainHeads(accountId?: string | null): ChainHead[];
  } | null;
  /** A `PASSIVE` checkpoint: copies what it can of the WAL into the database; never waits for a lock. */
  checkpoint(): void;
  close(): void;
}

/** Records written since the last checkpoint past which the writer checkpoints itself, between batches. */
const CHECKPOINT_RECORDS = 100_000;

/** Loads drivers synchronously (the store opens synchronously) and only when a path is given. */
const load = createRequire(import.meta.url);

/**
 * Opens a file path with the runtime's driver: `bun:sqlite` on Bun (where
 * better-sqlite3 does not load), better-sqlite3 elsewhere. Loaded here, not
 * imported at the top, so that an app passing its own database needs neither.
 */
export function openPath(path: string): SqliteDatabase {
  if (typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined') {
    const { Database } = load('bun:sqlite') as { Database: new (path: string) => SqliteDatabase };
    return new Database(path);
  }
  let Database: new (path: string) => SqliteDatabase;
  try {
    Database = load('better-sqlite3') as typeof Database;
  } catch (error) {
    throw new TypeError('sqliteStore: opening a database path needs the better-sqlite3 package (npm install better-sqlite3), or pass an open database', { cause: error });
  }
  return new Database(path);
}

/** Opens (and for a writer, migrates) the database and prepares the statements. */
export function openEngine(config: EngineConfig): Engine {
  const db: SqliteDatabase = typeof config.database === 'string' ? openPath(config.database) : config.database;
  try {
    db.exec(`PRAGMA busy_timeout = ${config.busyTimeout}`);
    if (config.role === 'writer') {
      // WAL lets readers run beside the writer; it is a property of the file and stays set.
      db.prepare('PRAGMA journal_mode = WAL').get();
      migrate(db);
    }
    db.exec(`PRAGMA synchronous = ${config.synchronous.toUpperCase()}`);
    if (config.manualCheckpoints) db.exec('PRAGMA wal_autocheckpoint = 0');
  } catch (error) {
    if (config.closeDatabase) db.close();
    throw error;
  }

  const insert = db.prepare(INSERT);
  const selectOne = db.prepare(`${SELECT} WHERE id = ? AND account_id = ?`);
  const hasher = config.chain === false ? null : nodeChainHasher(config.chain ?? undefined);
  const chainStatements = hasher ? prepareChainStatements(db) : null;
  const queries = new Map<string, SqliteStatement>();
  let uncheckpointed = 0;
  let retention: RetentionStorage | null = null;

  const statement = (sql: string): SqliteStatement => {
    let prepared = queries.get(sql);
    if (!prepared) {
      if (queries.size >= MAX_CACHED_QUERIES) queries.delete(queries.keys().next().value!);
      queries.set(sql, (prepared = db.prepare(sql)));
    }
    return prepared;
  };

  const checkpointStatement = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
  const checkpoint = (): void => {
    uncheckpointed = 0;
    // PASSIVE never waits: what a reader still needs stays in the WAL until the next one.
    checkpointStatement.get();
  };

  const append = (records: readonly AuditRecord[]): void => {
    if (records.length === 0) return;
    if (!hasher || !chainStatements) {
      const rows = records.map(rowOfRecord);
      inTransaction(db, () => {
        for (const row of rows) insert.run(...row);
      });
    } else {
      const c = chainStatements;
      const rows = records.map(rowOfRecord);
      // BEGIN IMMEDIATE holds the file's write lock from the first read of a
      // head to the commit, so no other connection can append in between.
      inTransaction(db, () => {
        // One look-up for the whole batch: the ids of it already stored.
        const held = new Set((c.existing.all(JSON.stringify(records.map((r) => r.id))) as Array<{ id: string }>).map((r) => r.id));
        const fresh: AuditRecord[] = [];
        const rowOf = new Map<AuditRecord, SqliteValue[]>();
        records.forEach((record, i) => {
          if (held.has(record.id)) return;
          held.add(record.id); // a batch that repeats an id stores it once
          fresh.push(record);
          rowOf.set(record, rows[i]!);
        });
        for (const [account, group] of groupByAccount(fresh)) {
          const stored = c.head.get(account) as { seq: number | bigint; hash: string } | undefined | null;
          // Without a head row (deleted by hand), continue from the newest link rather than collide with it.
          const newest = stored ?? (c.newestLink.get(account) as { seq: number | bigint; hash: string } | undefined | null);
          const head = newest ? { seq: Number(newest.seq), hash: newest.hash } : null;
          const links = linkRecordsSync(head, group, hasher);
          for (const link of links) c.insert.run(...rowOf.get(link.record)!, link.seq, link.prevHash, link.hash);
          const last = links[links.length - 1]!;
          if (stored) c.updateHead.run(last.seq, last.hash, account);
          else c.insertHead.run(account, last.seq, last.hash);
        }
      });
    }
    if (config.manualCheckpoints) {
      // The reader's thread checkpoints as the writer goes; this is the backstop should it not run.
      uncheckpointed += records.length;
      if (uncheckpointed >= CHECKPOINT_RECORDS) checkpoint();
    }
  };

  return {
    append,
    query(query) {
      const { sql, parameters } = pageQuery(query);
      return (statement(sql).all(...parameters) as AuditRow[]).map(recordOfRow);
    },
    get(accountId, id) {
      const row = selectOne.get(id, accountId) as AuditRow | undefined | null;
      return row ? recordOfRow(row) : null;
    },
    stats(query) {
      const { sql, parameters } = statsQuery(query);
      return statsOfRows(statement(sql).all(...parameters) as StatsRow[], query.interval);
    },
    retention() {
      if (!chainStatements) return null;
      // The calling store checks that it is open.
      retention ??= sqliteRetention(db, () => undefined);
      return retention;
    },
    chain: chainStatements ? chainReader(chainStatements) : null,
    checkpoint,
    close() {
      queries.clear();
      if (config.closeDatabase) db.close();
    },
  };
}

/** The columns of `audit_records` the store writes and reads, in `INSERT` order. */
const COLUMNS = [
  'id',
  'account_id',
  'created',
  'action_type',
  'resource',
  'resource_id',
  'user_id',
  'user_email',
  'app_id',
  'outcome',
  'status_code',
  'request_method',
  'request_path',
  'request_route',
  'request_ip',
  'request_user_agent',
  'request_id',
  'trace_id',
  'span_id',
  'details',
  'changes',
] as const;

type AuditRow = { [K in (typeof COLUMNS)[number]]: K extends 'status_code' ? number | bigint | null : string | null };

const SELECT = `SELECT ${COLUMNS.join(', ')} FROM audit_records`;
const INSERT =
  `INSERT INTO audit_records (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')}) ` +
  'ON CONFLICT (id) DO NOTHING';
/** The chain columns, written after `COLUMNS`. */
const CHAIN_COLUMNS = ['chain_seq', 'prev_hash', 'hash'] as const;
const INSERT_CHAINED =
  `INSERT INTO audit_records (${[...COLUMNS, ...CHAIN_COLUMNS].join(', ')}) ` +
  `VALUES (${[...COLUMNS, ...CHAIN_COLUMNS].map(() => '?').join(', ')})`;
const SELECT_CHAINED = `SELECT ${[...COLUMNS, ...CHAIN_COLUMNS].join(', ')} FROM audit_records`;
const HEADS = CHAIN_OBJECTS.headsTable;

type ChainRow = AuditRow & { chain_seq: number | bigint; prev_hash: string; hash: string };

/** Query shapes differ by filters present and the number of action types; this bounds the cache. */
const MAX_CACHED_QUERIES = 256;

/** The statements of the hash chain, prepared once per store. */
function prepareChainStatements(db: SqliteDatabase) {
  return {
    existing: db.prepare('SELECT id FROM audit_records WHERE id IN (SELECT value FROM json_each(?))'),
    insert: db.prepare(INSERT_CHAINED),
    head: db.prepare(`SELECT seq, hash FROM ${HEADS} WHERE account_id IS ?`),
    newestLink: db.prepare(
      `SELECT chain_seq AS seq, hash FROM audit_records INDEXED BY ${CHAIN_OBJECTS.chainIndex} ` +
        'WHERE account_id IS ? AND chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1',
    ),
    updateHead: db.prepare(`UPDATE ${HEADS} SET seq = ?, hash = ? WHERE account_id IS ?`),
    insertHead: db.prepare(`INSERT INTO ${HEADS} (account_id, seq, hash) VALUES (?, ?, ?)`),
    allHeads: db.prepare(`SELECT account_id, seq, hash FROM ${HEADS}`),
    scanFrom: db.prepare(
      `${SELECT_CHAINED} INDEXED BY ${CHAIN_OBJECTS.chainIndex} WHERE account_id IS ? AND chain_seq > ? ORDER BY chain_seq LIMIT ?`,
    ),
    scanAll: db.prepare(
      `${SELECT_CHAINED} INDEXED BY ${CHAIN_OBJECTS.chainIndex} WHERE account_id IS ? AND chain_seq IS NOT NULL ORDER BY chain_seq LIMIT ?`,
    ),
    unchained: db.prepare(
      `${SELECT} INDEXED BY ${CHAIN_OBJECTS.chainIndex} WHERE account_id IS ? AND chain_seq IS NULL AND created >= ? LIMIT ?`,
    ),
    // One index seek per account (a skip scan by hand), not a scan of the table.
    accounts: db.prepare(`
      WITH RECURSIVE accounts(account_id) AS (
        SELECT min(account_id) FROM audit_records
        UNION ALL
        SELECT (SELECT min(account_id) FROM audit_records WHERE account_id > accounts.account_id)
        FROM accounts WHERE account_id IS NOT NULL
      )
      SELECT account_id FROM accounts WHERE account_id IS NOT NULL`),
    anyWithoutAccount: db.prepare('SELECT 1 AS found FROM audit_records WHERE account_id IS NULL LIMIT 1'),
  };
}

/** `scanChain`, `scanUnchained` and `chainHeads` over the chain columns. */
function chainReader(c: ReturnType<typeof prepareChainStatements>): NonNullable<Engine['chain']> {
  const headOf = (row: { account_id: string | null; seq: number | bigint; hash: string }): ChainHead => ({
    accountId: row.account_id,
    seq: Number(row.seq),
    hash: row.hash,
  });
  return {
    scanChain(accountId, afterSeq, limit) {
      const rows = (afterSeq === null ? c.scanAll.all(accountId, limit) : c.scanFrom.all(accountId, afterSeq, limit)) as ChainRow[];
      return rows.map(
        (row): ChainedRecord => ({ record: recordOfRow(row), seq: Number(row.chain_seq), prevHash: row.prev_hash, hash: row.hash }),
      );
    },
    scanUnchained(accountId, since, limit) {
      return (c.unchained.all(accountId, since ?? '', limit) as AuditRow[]).map(recordOfRow);
    },
    chainHeads(accountId?: string | null) {
      if (accountId !== undefined) {
        const row = c.head.get(accountId) as { seq: number | bigint; hash: string } | undefined | null;
        return [row ? headOf({ account_id: accountId, ...row }) : { accountId, seq: 0, hash: GENESIS_HASH }];
      }
      const heads = new Map<string | null, ChainHead>();
      for (const row of c.allHeads.all() as Array<{ account_id: string | null; seq: number | bigint; hash: string }>) {
        heads.set(row.account_id, headOf(row));
      }
      const accounts = new Set<string | null>(heads.keys());
      for (const row of c.accounts.all() as Array<{ account_id: string }>) accounts.add(row.account_id);
      if (c.anyWithoutAccount.get()) accounts.add(null);
      return [...accounts].sort(compareAccounts).map((account) => heads.get(account) ?? { accountId: account, seq: 0, hash: GENESIS_HASH });
    },
  };
}

/**
 * Text for a TEXT column. better-sqlite3 writes a lone UTF-16 surrogate as
 * three bytes that read back as three U+FFFD; made one U+FFFD here, the text
 * reads back as the chain's canonical form hashed it. (`details` keeps lone
 * surrogates as JSON escapes, and reads back exact.)
 */
const text = (value: string | null): string | null => (value === null ? null : wellFormed(value));

/** The parameters of `INSERT`, in `COLUMNS` order. */
function rowOfRecord(record: AuditRecord): SqliteValue[] {
  return [
    text(record.id),
    text(record.account_id),
    record.created,
    text(record.action_type),
    text(record.resource),
    text(record.resource_id),
    text(record.user.id),
    text(record.user.email),
    text(record.app_id),
    record.outcome,
    record.status_code,
    text(record.request.method),
    text(record.request.path),
    text(record.request.route),
    text(record.request.ip),
    text(record.request.user_agent),
    text(record.request.request_id),
    record.trace?.trace_id ?? null,
    record.trace?.span_id ?? null,
    JSON.stringify(record.details),
    record.changes == null ? null : JSON.stringify(record.changes),
  ];
}

function recordOfRow(row: AuditRow): AuditRecord {
  return {
    id: row.id!,
    created: row.created!,
    action_type: row.action_type!,
    resource: row.resource!,
    resource_id: row.resource_id,
    user: { id: row.user_id!, email: row.user_email },
    account_id: row.account_id,
    app_id: row.app_id,
    outcome: row.outcome as Outcome,
    // A driver set to return 64-bit integers as bigint still yields a number here.
    status_code: row.status_code === null ? null : Number(row.status_code),
    request: {
      method: row.request_method,
      path: row.request_path,
      route: row.request_route,
      ip: row.request_ip,
      user_agent: row.request_user_agent,
      request_id: row.request_id,
    },
    trace: row.trace_id === null ? null : { trace_id: row.trace_id, span_id: row.span_id! },
    details: JSON.parse(row.details!) as { [key: string]: JsonValue },
    changes: row.changes === null ? null : (JSON.parse(row.changes) as AuditChanges),
  };
}

/**
 * The SQL and parameters of one page. Every bound on the `(created, id)`
 * order, `from`, `to` and `after`, becomes one row-value comparison per side,
 * so the index range is bounded at both ends and a deep page costs what the
 * first one does. Since ids are never empty, `created >= from` is
 * `(created, id) > (from, '')` and `created < to` is `(created, id) < (to, '')`.
 */
export function pageQuery(query: StoreQuery): { sql: string; parameters: SqliteValue[] } {
  const { filter, order, after } = query;
  const { where, parameters } = filterTerms(query.accountId, filter);

  const lowers: KeysetPosition[] = [];
  const uppers: KeysetPosition[] = [];
  if (filter.from !== undefined) lowers.push({ created: filter.from, id: '' });
  if (filter.to !== undefined) uppers.push({ created: filter.to, id: '' });
  if (after) (order === 'asc' ? lowers : uppers).push(after);
  const lower = lowers.reduce<KeysetPosition | undefined>((a, b) => (a && compareKeyset(a, b) >= 0 ? a : b), undefined);
  const upper = uppers.reduce<KeysetPosition | undefined>((a, b) => (a && compareKeyset(a, b) <= 0 ? a : b), undefined);
  if (lower) {
    where.push('(created, id) > (?, ?)');
    parameters.push(lower.created, lower.id);
  }
  if (upper) {
    where.push('(created, id) < (?, ?)');
    parameters.push(upper.created, upper.id);
  }

  const direction = order === 'asc' ? 'ASC' : 'DESC';
  parameters.push(query.limit);
  return {
    sql:
      `${SELECT} INDEXED BY ${indexFor(filter)} WHERE ${where.join(' AND ')} ` +
      `ORDER BY created ${direction}, id ${direction} LIMIT ?`,
    parameters,
  };
}
