import { postgresRetention } from './prune.ts';
import { AuditError, type AuditChanges, type AuditRecord, type ChainOptions, type Store } from '@audit-trail/core';
import { compareAccounts, GENESIS_HASH, groupByAccount, linkRecordsSync, resolveChainOption, type ChainedRecord, type ChainHasher, type ChainHead, type StoreQuery } from '@audit-trail/core/store';
import pg from 'pg';
import { inTransaction, type PostgresPool, type PostgresQueryable } from './client.ts';
import { migrate, tableNames, type TableNames } from './migrations.ts';
import { statsOfRows, statsStatement } from './stats.ts';
import { nodeChainHasher } from '@audit-trail/core/store';

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
  /**
   * For the pool created from `connectionString`: how long to wait for a
   * connection (a server that is down or unreachable) before the write fails
   * and is retried, in ms. Default 10,000.
   */
  connectTimeoutMs?: number;
  /**
   * For the pool created from `connectionString`: the server's
   * `statement_timeout`, in ms, so that a statement stuck behind a lock fails
   * (and is retried) rather than hold the writer forever. Default 30,000.
   */
  statementTimeoutMs?: number;
  /**
   * The hash chain (CHAIN.md). On by default, with plain SHA-256; `{ key }`
   * makes every hash an HMAC-SHA-256 that someone with write access to the
   * database cannot recompute without the key. `false` writes no links (one
   * statement per batch, as before the chain) and leaves out `scanChain`,
   * `scanUnchained` and `chainHeads`.
   */
  chain?: ChainOptions | false;
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
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly chain: { key: Uint8Array | null } | null;
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
  ['changes', 'jsonb[]'],
] as const;

/** The chain columns, written after `INSERT_COLUMNS` by a chaining store. */
const CHAIN_COLUMNS = [
  ['chain_seq', 'bigint[]'],
  ['prev_hash', 'text[]'],
  ['hash', 'text[]'],
] as const;

// `created` is formatted in SQL rather than parsed into a `Date`, so that a
// borrowed pool's type parsers cannot change it; stored with milliseconds, it
// reads back exactly as written. The alias must differ from the column: ORDER
// BY would otherwise sort by the text and leave the indexes unused.
const SELECT_COLUMNS = `id, account_id, to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_iso,
  action_type, resource, resource_id, user_id, user_email, app_id, outcome, status_code, request, trace_id, span_id, details, changes`;

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
  changes: AuditChanges | string | null;
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
  const hasher = config.chain ? nodeChainHasher(config.chain.key) : null;
  /** The head each account had after this store's last write of it: a guess, checked by the database. */
  const predicted: HeadCache = new Map();
  /** The chained append called last: the next one is sent once it is done. */
  let lastAppend: Promise<unknown> = Promise.resolve();

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
      if (!hasher) {
        await pool.query(statements.insert, insertValues(records));
        return;
      }
      // Appends of one store reach the database in call order: each is built at once,
      // and sent when the one before it is done (see appendChainedAtOnce).
      const appended = appendChainedAtOnce(pool, statements, hasher, predicted, records, lastAppend);
      lastAppend = appended;
      await appended;
    },

    async query(query) {
      await ready('query');
      const { text, values } = pageStatement(statements.select, query);
      const { rows } = await pool.query(text, values);
      return (rows as AuditRow[]).map(recordOfRow);
    },

    async stats(query) {
      await ready('stats');
      const { text, values } = statsStatement(names.qualifiedTable, query);
      const { rows } = await pool.query(text, values);
      return statsOfRows(rows as Array<{ start: string; count: number; failures: number }>);
    },

    async get(accountId, id) {
      await ready('get');
      const { rows } = await pool.query(statements.get, [accountId, id]);
      const row = rows[0] as AuditRow | undefined;
      return row ? recordOfRow(row) : null;
    },

    ...(hasher ? { ...chainReader(pool, statements, ready), retention: postgresRetention(pool, names, ready) } : {}),

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
  const chain = resolveChainOption(options.chain, 'postgresStore');
  const timeout = (name: 'connectTimeoutMs' | 'statementTimeoutMs', fallback: number): number => {
    const value = options[name];
    if (value === undefined) return fallback;
    if (pool !== undefined) throw new TypeError(`postgresStore: ${name} applies only with connectionString; configure your own pool where you create it`);
    if (!Number.isInteger(value) || value < 1) throw new TypeError(`postgresStore: ${name} must be a positive integer (ms)`);
    return value;
  };
  return Object.freeze({
    connectionString,
    pool,
    schema,
    table,
    poolSize: poolSize ?? DEFAULT_POOL_SIZE,
    connectTimeoutMs: timeout('connectTimeoutMs', 10_000),
    statementTimeoutMs: timeout('statementTimeoutMs', 30_000),
    chain,
  });
}

function createPool(config: ResolvedOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.connectionString,
    max: config.poolSize,
    fallback_application_name: 'audit-trail',
    connectionTimeoutMillis: config.connectTimeoutMs,
    statement_timeout: config.statementTimeoutMs,
    // A peer gone without a word (a failover, a cut network) is noticed by TCP rather than never.
    keepAlive: true,
  });
  // An idle connection the server drops is discarded by the pool; without a
  // listener the 'error' event would crash the process. Statements in flight
  // reject on their own and reach the auditor's onError (a checked-out
  // connection has a listener of its own, see inTransaction).
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
    ...chainStatements(names),
  };
}

type Statements = ReturnType<typeof storeStatements>;

/** The statements of the hash chain. `$1` is always the account; variants for `NULL` keep index use. */
function chainStatements({ qualifiedTable: t, qualifiedHeads: h, qualifiedAppend }: TableNames) {
  const columns = [...INSERT_COLUMNS, ...CHAIN_COLUMNS];
  const account = (nullAccount: boolean) => (nullAccount ? 'account_id IS NULL AND $1::text IS NULL' : 'account_id = $1');
  const scan = (nullAccount: boolean, from: boolean) =>
    `SELECT ${SELECT_COLUMNS}, chain_seq, prev_hash, hash FROM ${t} WHERE ${account(nullAccount)} AND ` +
    (from ? 'chain_seq > $2 ORDER BY chain_seq LIMIT $3' : 'chain_seq IS NOT NULL ORDER BY chain_seq LIMIT $2');
  return {
    existing: `SELECT id FROM ${t} WHERE id = ANY($1::text[])`,
    // A plain INSERT: under the heads' locks no other writer can store these ids, so a conflict is a real fault and rolls back.
    insertChained: `INSERT INTO ${t} (${columns.map(([name]) => name).join(', ')}) SELECT * FROM UNNEST(${columns
      .map(([, type], i) => `$${i + 1}::${type}`)
      .join(', ')})`,
    ensureHeads: `INSERT INTO ${h} (account_id, seq, hash) SELECT a, 0, '${GENESIS_HASH}' FROM UNNEST($1::text[]) AS a ON CONFLICT DO NOTHING`,
    ensureNullHead: `INSERT INTO ${h} (account_id, seq, hash) VALUES (NULL, 0, '${GENESIS_HASH}') ON CONFLICT DO NOTHING`,
    // Locked in one fixed order by every writer (the NULL row first, then by bytes), so two batches never deadlock.
    lockNullHead: `SELECT account_id, seq, hash FROM ${h} WHERE account_id IS NULL FOR UPDATE`,
    lockHeads: `SELECT account_id, seq, hash FROM ${h} WHERE account_id = ANY($1::text[]) ORDER BY account_id COLLATE "C" FOR UPDATE`,
    newestLinks:
      `SELECT a.account_id, l.chain_seq, l.hash FROM UNNEST($1::text[]) AS a(account_id) CROSS JOIN LATERAL ` +
      `(SELECT chain_seq, hash FROM ${t} WHERE account_id = a.account_id AND chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1) AS l`,
    newestNullLink: `SELECT NULL::text AS account_id, chain_seq, hash FROM ${t} WHERE account_id IS NULL AND chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1`,
    updateHeads:
      `UPDATE ${h} AS h SET seq = v.seq, hash = v.hash FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS v(account_id, seq, hash) ` +
      'WHERE h.account_id = v.account_id',
    updateNullHead: `UPDATE ${h} SET seq = $1, hash = $2 WHERE account_id IS NULL`,
    appendAtOnce: `SELECT ${qualifiedAppend}(${Array.from({ length: 24 }, (_, i) => `$${i + 1}`).join(', ')}) AS conflict`,
    scanFrom: scan(false, true),
    scanAll: scan(false, false),
    scanNullFrom: scan(true, true),
    scanNullAll: scan(true, false),
    unchained: `SELECT ${SELECT_COLUMNS} FROM ${t} WHERE account_id = $1 AND chain_seq IS NULL AND created >= $2::timestamptz LIMIT $3`,
    unchainedNull: `SELECT ${SELECT_COLUMNS} FROM ${t} WHERE account_id IS NULL AND $1::text IS NULL AND chain_seq IS NULL AND created >= $2::timestamptz LIMIT $3`,
    head: `SELECT account_id, seq, hash FROM ${h} WHERE account_id = $1`,
    nullHead: `SELECT account_id, seq, hash FROM ${h} WHERE account_id IS NULL`,
    allHeads: `SELECT account_id, seq, hash FROM ${h}`,
    // One index descent per account (a skip scan by hand), not a scan of the table.
    accounts: `WITH RECURSIVE accounts(account_id) AS (
        (SELECT account_id FROM ${t} WHERE account_id IS NOT NULL ORDER BY account_id LIMIT 1)
        UNION ALL
        SELECT (SELECT account_id FROM ${t} WHERE account_id > accounts.account_id ORDER BY account_id LIMIT 1)
        FROM accounts WHERE accounts.account_id IS NOT NULL
      )
      SELECT account_id FROM accounts WHERE account_id IS NOT NULL`,
    anyWithoutAccount: `SELECT 1 AS found FROM ${t} WHERE account_id IS NULL LIMIT 1`,
  };
}

/** A head row as read from the heads table; `seq` is a bigint, which `pg` returns as text. */
interface HeadRow {
  account_id: string | null;
  seq: string | number;
  hash: string;
}

/** A chained row: `SELECT_COLUMNS` and the chain columns. */
interface ChainRow extends AuditRow {
  chain_seq: string | number;
  prev_hash: string;
  hash: string;
}

/** Per account (`null`: records without one), the head this store expects: seq and hash of the newest link. */
type HeadCache = Map<string | null, { seq: number; hash: string }>;

/** Optimistic rounds before a batch falls back to the locked append, which always goes through. */
const OPTIMISTIC_ATTEMPTS = 3;
/** A bound on the head cache: past it, the cache starts again (each account then costs one extra round trip). */
const MAX_CACHED_HEADS = 100_000;

/** What the append function returns when it stored nothing. */
interface AppendConflict {
  heads: Array<[string | null, number | string, string]>;
  stored: string[];
}

/**
 * Appends a batch with its links in one round trip: link each account's
 * records after the head this store expects (its last write, or the genesis
 * for an account it has not written), and call the append function, which
 * checks those heads under their row locks and stores the rows only if they
 * are still current. When another writer moved a head (another instance, or
 * a write whose answer was lost), the function answers with the current heads
 * and the ids already stored, and the batch is linked again from them. After
 * a few such rounds (heavy contention on the same accounts) the batch takes
 * the locked multi-statement path, which always goes through.
 */
async function appendChainedAtOnce(
  pool: PostgresPool,
  s: Statements,
  hasher: ChainHasher,
  predicted: HeadCache,
  records: readonly AuditRecord[],
  previous: Promise<unknown>,
): Promise<void> {
  let groups = groupByAccount(records);
  // The first round is built at once, linked after the heads the append before this one will
  // leave (the guess moves ahead now), so that it is ready when that append is done.
  let round: Round | null = buildRound(groups, predicted, hasher);
  await previous.catch(() => undefined);
  for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS && groups.size > 0; attempt++) {
    round ??= buildRound(groups, predicted, hasher);
    const { values } = round;
    round = null;
    const { rows } = await pool.query(s.appendAtOnce, values);
    const answer = (rows[0] as { conflict: AppendConflict | string | null } | undefined)?.conflict ?? null;
    if (predicted.size > MAX_CACHED_HEADS) predicted.clear();
    // Stored: the guess already moved when the round was built (and may have moved on since,
    // for an append built after this one), so there is nothing to record.
    if (answer === null) return;
    const conflict = fromJson(answer);
    for (const [account, seq, hash] of conflict.heads) predicted.set(account, { seq: Number(seq), hash });
    // Ids already stored (a retry of a write that went through) are left out; the rest is linked again.
    const stored = new Set(conflict.stored);
    const rest = records.filter((record) => !stored.has(record.id));
    groups = groupByAccount(rest);
    if (attempt === OPTIMISTIC_ATTEMPTS - 1 && groups.size > 0) {
      await appendChained(pool, s, hasher, rest);
      // The locked path moved the heads; the next batch learns them from its first answer.
      for (const account of groups.keys()) predicted.delete(account);
    }
  }
}

/** One call of the append function, ready to send. */
interface Round {
  accounts: Array<string | null>;
  moved: Array<{ seq: number; hash: string }>;
  values: unknown[];
}

/**
 * Links each account's records after the head expected for it and builds the
 * function's arguments, the arrays already in PostgreSQL's text form (so that
 * this work is done before the statement waits for its turn); the guess of
 * each head moves to the batch's last link.
 */
function buildRound(groups: Map<string | null, AuditRecord[]>, predicted: HeadCache, hasher: ChainHasher): Round {
  const accounts = [...groups.keys()];
  const expected = accounts.map((account) => predicted.get(account) ?? { seq: 0, hash: GENESIS_HASH });
  const columns: unknown[][] = [...INSERT_COLUMNS, ...CHAIN_COLUMNS].map(() => []);
  const moved: Array<{ seq: number; hash: string }> = [];
  accounts.forEach((account, i) => {
    const links = linkRecordsSync(expected[i]!, groups.get(account)!, hasher);
    for (const link of links) {
      const row = rowValues(link.record);
      row.push(link.seq, link.prevHash, link.hash);
      for (let c = 0; c < row.length; c++) columns[c]!.push(row[c]);
    }
    const last = links[links.length - 1]!;
    moved.push({ seq: last.seq, hash: last.hash });
    predicted.set(account, { seq: last.seq, hash: last.hash });
  });
  const values = [
    accounts,
    expected.map((h) => h.seq),
    expected.map((h) => h.hash),
    moved.map((h) => h.seq),
    moved.map((h) => h.hash),
    ...columns,
  ].map(arrayLiteral);
  return { accounts, moved, values };
}

/** An array in PostgreSQL's text form, as `pg` would send it: elements quoted, `\` and `"` escaped, `NULL` for null. */
function arrayLiteral(values: readonly unknown[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const value = values[i];
    if (value === null || value === undefined) out += 'NULL';
    else if (typeof value === 'number') out += String(value);
    else out += `"${String(value).replace(/[\\"]/g, '\\$&')}"`;
  }
  return `${out}}`;
}

/**
 * Appends a batch with its links, in one transaction: make sure every
 * account of the batch has a head row, lock those rows in a fixed order
 * (writers of the same accounts queue here, and only here), leave out records
 * already stored, link each account's records after its head, insert them,
 * and move the heads. Writers of other accounts never wait for each other.
 */
async function appendChained(pool: PostgresPool, s: Statements, hasher: ChainHasher, records: readonly AuditRecord[]): Promise<void> {
  const groups = groupByAccount(records);
  const accounts = [...groups.keys()].filter((a): a is string => a !== null).sort(compareAccounts);
  const withNull = groups.has(null);
  await inTransaction(pool, async (client) => {
    if (accounts.length > 0) await client.query(s.ensureHeads, [accounts]);
    if (withNull) await client.query(s.ensureNullHead);
    const locked = [
      ...(withNull ? (await client.query(s.lockNullHead)).rows : []),
      ...(accounts.length > 0 ? (await client.query(s.lockHeads, [accounts])).rows : []),
    ];
    // Read after the locks: a batch that held them before us has committed, and its records are visible now.
    const { rows: existing } = await client.query(s.existing, [[...new Set(records.map((r) => r.id))]]);
    const stored = new Set((existing as Array<{ id: string }>).map((row) => row.id));
    const heads = new Map<string | null, { seq: number; hash: string }>();
    for (const row of locked as HeadRow[]) heads.set(row.account_id, { seq: Number(row.seq), hash: row.hash });
    await continueFromNewestLinks(client, s, heads);

    const columns: unknown[][] = [...INSERT_COLUMNS, ...CHAIN_COLUMNS].map(() => []);
    const moved: Array<[string | null, number, string]> = [];
    for (const [account, group] of groups) {
      const fresh = group.filter((record) => !stored.has(record.id));
      if (fresh.length === 0) continue;
      const links = linkRecordsSync(heads.get(account) ?? null, fresh, hasher);
      for (const link of links) {
        const row = [...rowValues(link.record), link.seq, link.prevHash, link.hash];
        row.forEach((value, i) => columns[i]!.push(value));
      }
      const last = links[links.length - 1]!;
      moved.push([account, last.seq, last.hash]);
    }
    if (moved.length > 0) {
      await client.query(s.insertChained, columns);
      const named = moved.filter(([account]) => account !== null);
      if (named.length > 0) {
        await client.query(s.updateHeads, [named.map(([a]) => a), named.map(([, seq]) => seq), named.map(([, , hash]) => hash)]);
      }
      const none = moved.find(([account]) => account === null);
      if (none) await client.query(s.updateNullHead, [none[1], none[2]]);
    }
  });
}

/**
 * A head at 0 is a new account, or a head row someone deleted by hand: then
 * the chain continues from its newest stored link, rather than collide with
 * it on the unique index and fail every append of the account.
 */
async function continueFromNewestLinks(client: PostgresQueryable, s: Statements, heads: Map<string | null, { seq: number; hash: string }>): Promise<void> {
  const empty = [...heads].filter(([, head]) => head.seq === 0).map(([account]) => account);
  if (empty.length === 0) return;
  const named = empty.filter((a): a is string => a !== null);
  const rows: HeadRow[] = [];
  if (named.length > 0) rows.push(...((await client.query(s.newestLinks, [named])).rows as Array<HeadRow & { chain_seq: string }>).map((r) => ({ ...r, seq: r.chain_seq })));
  if (empty.includes(null)) rows.push(...((await client.query(s.newestNullLink)).rows as Array<HeadRow & { chain_seq: string }>).map((r) => ({ ...r, seq: r.chain_seq })));
  for (const row of rows) heads.set(row.account_id, { seq: Number(row.seq), hash: row.hash });
}

/** `scanChain`, `scanUnchained` and `chainHeads` over the chain columns and the heads table. */
function chainReader(pool: PostgresPool, s: Statements, ready: (operation: string) => Promise<void>): Pick<Store, 'scanChain' | 'scanUnchained' | 'chainHeads'> {
  const headOf = (row: HeadRow): ChainHead => ({ accountId: row.account_id, seq: Number(row.seq), hash: row.hash });
  return {
    async scanChain(accountId, afterSeq, limit) {
      await ready('scanChain');
      const text = accountId === null ? (afterSeq === null ? s.scanNullAll : s.scanNullFrom) : afterSeq === null ? s.scanAll : s.scanFrom;
      const values = afterSeq === null ? [accountId, limit] : [accountId, afterSeq, limit];
      const { rows } = await pool.query(text, values);
      return (rows as ChainRow[]).map(
        (row): ChainedRecord => ({ record: recordOfRow(row), seq: Number(row.chain_seq), prevHash: row.prev_hash, hash: row.hash }),
      );
    },
    async scanUnchained(accountId, since, limit) {
      await ready('scanUnchained');
      const { rows } = await pool.query(accountId === null ? s.unchainedNull : s.unchained, [accountId, since ?? '-infinity', limit]);
      return (rows as AuditRow[]).map(recordOfRow);
    },
    async chainHeads(accountId?: string | null) {
      await ready('chainHeads');
      if (accountId !== undefined) {
        const { rows } = accountId === null ? await pool.query(s.nullHead) : await pool.query(s.head, [accountId]);
        const row = rows[0] as HeadRow | undefined;
        return [row ? headOf(row) : { accountId, seq: 0, hash: GENESIS_HASH }];
      }
      const heads = new Map<string | null, ChainHead>();
      for (const row of (await pool.query(s.allHeads)).rows as HeadRow[]) heads.set(row.account_id, headOf(row));
      const accounts = new Set<string | null>(heads.keys());
      for (const row of (await pool.query(s.accounts)).rows as Array<{ account_id: string }>) accounts.add(row.account_id);
      if ((await pool.query(s.anyWithoutAccount)).rows.length > 0) accounts.add(null);
      return [...accounts].sort(compareAccounts).map((account) => heads.get(account) ?? { accountId: account, seq: 0, hash: GENESIS_HASH });
    },
  };
}

/** One array per column, for the `UNNEST` insert. */
function insertValues(records: readonly AuditRecord[]): unknown[][] {
  const columns: unknown[][] = INSERT_COLUMNS.map(() => new Array<unknown>(records.length));
  records.forEach((r, i) => {
    rowValues(r).forEach((value, column) => {
      columns[column]![i] = value;
    });
  });
  return columns;
}

/** One record's values, in `INSERT_COLUMNS` order. */
function rowValues(r: AuditRecord): unknown[] {
  return [
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
    r.changes == null ? null : JSON.stringify(r.changes),
  ];
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
    changes: row.changes === null ? null : fromJson(row.changes),
  };
}

/** `pg` parses jsonb by default; a borrowed pool may have turned that off. */
function fromJson<T>(value: T | string): T {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}
