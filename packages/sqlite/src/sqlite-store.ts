import { AuditError, type AuditRecord, type ChainOptions, type Store } from '@audit-trail/core';
import { resolveChainOption, type ChainedRecord, type ChainHead, type RetentionStorage, type StatsBucket, type StoreQuery, type StoreStatsQuery } from '@audit-trail/core/store';
import { isSqliteDatabase, type SqliteDatabase } from './database.ts';
import { openEngine, type EngineConfig } from './engine.ts';
import { WorkerClient } from './worker-client.ts';

export { pageQuery } from './engine.ts';

/** Values of `PRAGMA synchronous` the store offers. */
export const SYNCHRONOUS_MODES = ['normal', 'full'] as const;
/** One of `SYNCHRONOUS_MODES`. */
export type SynchronousMode = (typeof SYNCHRONOUS_MODES)[number];

/** Options of `sqliteStore`; copied and frozen when the store is made. */
export interface SqliteStoreOptions {
  /**
   * A file path, opened with better-sqlite3 (`bun:sqlite` on Bun; the file is created if missing,
   * its directory is not), or a database you opened, of any driver that has
   * the `SqliteDatabase` shape.
   */
  database: string | SqliteDatabase;
  /** Whether `close()` closes the database. Default: `true` for a path, `false` for a database you passed. */
  closeDatabase?: boolean;
  /** How long a write waits for another connection's lock, in milliseconds (`PRAGMA busy_timeout`). Default 5000. */
  busyTimeout?: number;
  /**
   * `PRAGMA synchronous`. `'normal'` (default): in WAL mode a commit survives
   * a crash of the process, but the last commits may be lost on power loss.
   * `'full'`: also survives power loss, at an fsync per batch.
   */
  synchronous?: SynchronousMode;
  /**
   * The hash chain (CHAIN.md). On by default, with plain SHA-256; `{ key }`
   * makes every hash an HMAC-SHA-256 that someone with write access to the
   * file cannot recompute without the key. `false` writes no links and
   * leaves out `scanChain`, `scanUnchained` and `chainHeads`.
   */
  chain?: ChainOptions | false;
  /**
   * Where SQLite runs. `true` (the default for a path): in a worker thread
   * of its own, so that no lock, slow disk or checkpoint ever blocks the
   * event loop; writes and reads go to two threads, each with its own
   * connection, so that a page is not stuck behind a write that waits for a
   * lock. `false` (always, for a database you pass in, for `':memory:'`
   * and for `closeDatabase: false`): on the calling thread, as a
   * synchronous driver does.
   */
  thread?: boolean;
}

/**
 * A store in a SQLite database. `ready` settles once the database is open
 * and migrated: with `thread: false` it is resolved already (opening errors
 * throw from `sqliteStore`); in a worker thread, opening errors reject
 * `ready` and every call until the thread opens the file.
 */
export interface SqliteStore extends Store {
  readonly ready: Promise<void>;
}

/** How much longer than `busyTimeout` `close()` waits for the thread before terminating it. */
const CLOSE_GRACE_MS = 2_000;

/**
 * A store in a SQLite database: one row per record in `audit_records`, a
 * versioned schema migrated on open, and per-account indexes that make every
 * page a range scan. A configuration mistake throws a `TypeError` naming the
 * option. Given a path, SQLite runs in a worker thread (see `thread`) and the
 * store is returned at once; a database with a newer schema, or a file that
 * cannot be opened, rejects `ready` and the calls with an `AuditError`
 * `store_failed`. In the calling thread (`thread: false`, or a database you
 * pass in) opening is synchronous and such errors throw.
 *
 * @example
 * import { createAuditor } from '@audit-trail/core';
 * import { sqliteStore } from '@audit-trail/sqlite';
 *
 * const auditor = createAuditor({ store: sqliteStore({ database: './audit.db' }) });
 *
 * @example
 * // A database you opened (any driver of the `SqliteDatabase` shape); you close it.
 * import Database from 'better-sqlite3';
 *
 * const db = new Database('./app.db');
 * const store = sqliteStore({ database: db });
 */
export function sqliteStore(options: SqliteStoreOptions): SqliteStore {
  const config = resolveOptions(options);
  const chain = config.chain === false ? false : resolveChainOption(config.chain, 'sqliteStore')!.key;
  const engineConfig: EngineConfig = {
    database: config.database,
    busyTimeout: config.busyTimeout,
    synchronous: config.synchronous,
    chain,
    closeDatabase: config.closeDatabase,
    role: 'writer',
    manualCheckpoints: config.thread,
  };
  return config.thread ? threadedStore(engineConfig) : inThreadStore(engineConfig);
}

interface ResolvedOptions {
  database: string | SqliteDatabase;
  busyTimeout: number;
  synchronous: SynchronousMode;
  closeDatabase: boolean;
  chain: ChainOptions | false;
  thread: boolean;
}

function resolveOptions(options: SqliteStoreOptions): Readonly<ResolvedOptions> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('sqliteStore: options must be an object with a `database`');
  }
  const { database, busyTimeout = 5000, synchronous = 'normal' } = options;
  if (!(typeof database === 'string' ? database.length > 0 : isSqliteDatabase(database))) {
    throw new TypeError('sqliteStore: database must be a file path or an open database with prepare(), exec() and close()');
  }
  if (!Number.isInteger(busyTimeout) || busyTimeout < 0) {
    throw new TypeError('sqliteStore: busyTimeout must be a whole number of milliseconds, 0 or more');
  }
  if (!SYNCHRONOUS_MODES.includes(synchronous)) {
    throw new TypeError(`sqliteStore: synchronous must be one of ${SYNCHRONOUS_MODES.join(', ')}`);
  }
  const closeDatabase = options.closeDatabase ?? typeof database === 'string';
  if (typeof closeDatabase !== 'boolean') throw new TypeError('sqliteStore: closeDatabase must be a boolean');
  // An in-memory database is one per connection: the writer's and the reader's threads would each have their own.
  const inMemory = typeof database === 'string' && (database === ':memory:' || database.includes('mode=memory'));
  const thread = options.thread ?? (typeof database === 'string' && closeDatabase && !inMemory);
  if (typeof thread !== 'boolean') throw new TypeError('sqliteStore: thread must be a boolean');
  if (thread && typeof database !== 'string') {
    throw new TypeError('sqliteStore: thread needs a file path; a database you opened cannot move to another thread');
  }
  if (thread && inMemory) throw new TypeError('sqliteStore: thread needs a file; an in-memory database cannot be shared by two threads');
  if (thread && !closeDatabase) {
    throw new TypeError('sqliteStore: closeDatabase: false needs thread: false; the worker thread closes its connection when it ends');
  }
  const chain = options.chain ?? {};
  // Checked here, so that a bad key throws before the database is opened.
  resolveChainOption(chain, 'sqliteStore');
  return Object.freeze({ database, busyTimeout, synchronous, closeDatabase, thread, chain: chain === false ? false : Object.freeze({ ...chain }) });
}

/** The engine on the calling thread: synchronous inside, promises outside. */
function inThreadStore(config: EngineConfig): SqliteStore {
  const engine = openEngine(config);
  let closed = false;
  const assertOpen = (): void => {
    if (closed) throw new AuditError('closed', 'sqliteStore: the store is closed');
  };
  const chain = engine.chain;
  return Object.freeze({
    ready: Promise.resolve(),
    async append(records: readonly AuditRecord[]) {
      assertOpen();
      engine.append(records);
    },
    async query(query: StoreQuery) {
      assertOpen();
      return engine.query(query);
    },
    async get(accountId: string, id: string) {
      assertOpen();
      return engine.get(accountId, id);
    },
    async stats(query: StoreStatsQuery) {
      assertOpen();
      return engine.stats(query);
    },
    ...(chain
      ? {
          retention: guardRetention(() => engine.retention()!, assertOpen),
          async scanChain(accountId: string | null, afterSeq: number | null, limit: number) {
            assertOpen();
            return chain.scanChain(accountId, afterSeq, limit);
          },
          async scanUnchained(accountId: string | null, since: string | null, limit: number) {
            assertOpen();
            return chain.scanUnchained(accountId, since, limit);
          },
          async chainHeads(...args: [accountId?: string | null]) {
            assertOpen();
            return args.length === 0 ? chain.chainHeads() : chain.chainHeads(args[0]);
          },
        }
      : {}),
    async close() {
      if (closed) return;
      closed = true;
      engine.close();
    },
  });
}

const RETENTION_METHODS = ['anchors', 'addAnchor', 'deleteChain', 'holds', 'hold', 'release'] as const satisfies ReadonlyArray<keyof RetentionStorage>;

/** `RetentionStorage` whose every method is one call of `send`. */
function retentionThrough(send: (method: keyof RetentionStorage, args: unknown[]) => Promise<unknown>): RetentionStorage {
  return Object.fromEntries(RETENTION_METHODS.map((method) => [method, (...args: unknown[]) => send(method, args)])) as unknown as RetentionStorage;
}

/** The engine's retention, checked open at every call. */
function guardRetention(open: () => RetentionStorage, assertOpen: () => void): RetentionStorage {
  return retentionThrough(async (method, args) => {
    assertOpen();
    return (open()[method] as (...a: unknown[]) => Promise<unknown>)(...args);
  });
}

/** A symbol under which the threaded store shows its threads to the package's tests. */
export const THREADS = Symbol.for('@audit-trail/sqlite.threads');

/**
 * The engine in worker threads: one that writes (and migrates on open), and,
 * from the first read on, one that reads on a connection of its own. Each
 * call is one message; records cross as structured clones (cheaper on the
 * main thread than one JSON string, measured).
 */
function threadedStore(config: EngineConfig): SqliteStore {
  const writer = new WorkerClient({ kind: 'store', config }, 'sqliteStore');
  const readerConfig: EngineConfig = { ...config, role: 'reader', manualCheckpoints: false };
  const reader = new WorkerClient({ kind: 'store', config: readerConfig }, 'sqliteStore');
  const ready = writer.start().then(() => undefined);
  // The reader's thread also checkpoints the WAL, so it starts with the writer, not at the first read.
  ready.then(() => reader.start()).catch(() => undefined);
  let closed = false;
  const closedError = () => new AuditError('closed', 'sqliteStore: the store is closed');

  /** Reads start once the writer has migrated the file, then go to the reader's thread. */
  const read = async (op: string, args: unknown[]): Promise<unknown> => {
    if (closed) throw closedError();
    await writer.start();
    return reader.call(op, args);
  };

  const store: SqliteStore & { [THREADS]: { writer: WorkerClient; reader: WorkerClient } } = {
    ready,
    async append(records: readonly AuditRecord[]) {
      if (closed) throw closedError();
      if (records.length === 0) return;
      await writer.call('append', [records]);
    },
    query: (query: StoreQuery) => read('query', [query]) as Promise<AuditRecord[]>,
    get: (accountId: string, id: string) => read('get', [accountId, id]) as Promise<AuditRecord | null>,
    stats: (query: StoreStatsQuery) => read('stats', [query]) as Promise<StatsBucket[]>,
    ...(config.chain === false
      ? {}
      : {
          // Prunes and holds write: they go to the writer's thread, one short transaction per call between batches.
          retention: retentionThrough(async (method, args) => {
            if (closed) throw closedError();
            return writer.call('retention', [method, ...args]);
          }),
          scanChain: (accountId: string | null, afterSeq: number | null, limit: number) =>
            read('scanChain', [accountId, afterSeq, limit]) as Promise<ChainedRecord[]>,
          scanUnchained: (accountId: string | null, since: string | null, limit: number) =>
            read('scanUnchained', [accountId, since, limit]) as Promise<AuditRecord[]>,
          chainHeads: (...args: [accountId?: string | null]) => read('chainHeads', args) as Promise<ChainHead[]>,
        }),
    async close() {
      if (closed) return;
      closed = true;
      const timeout = config.busyTimeout + CLOSE_GRACE_MS;
      await Promise.all([writer.close(timeout), reader.close(timeout)]);
    },
    [THREADS]: { writer, reader },
  };
  // An unobserved opening failure is reported by the calls, not as an unhandled rejection.
  ready.catch(() => undefined);
  return Object.freeze(store);
}
