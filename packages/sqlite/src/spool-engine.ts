import { AuditError, type AuditRecord } from '@audit-trail/core';
import { inTransaction, type SqliteDatabase } from './database.ts';
import { openPath } from './engine.ts';

/** What the spool's thread opens. */
export interface SpoolEngineConfig {
  readonly path: string;
  /** The most bytes of records the spool holds; an append beyond is refused. */
  readonly maxBytes: number;
  /** The longest a record waits for its group's commit, in ms. */
  readonly groupCommitMs: number;
  readonly synchronous: 'normal' | 'full';
  readonly busyTimeout: number;
}

/** How full the spool is. */
export interface SpoolState {
  /** Records waiting to be forwarded. */
  records: number;
  /** Their size, as stored (JSON). */
  bytes: number;
  /** When the oldest waiting record was spooled (ms since the epoch), `null` when none waits. */
  oldestSpooledAt: number | null;
}

/** A page of the spool, oldest first: its records and the position to acknowledge. */
export interface SpoolPage {
  records: AuditRecord[];
  /** The last position in the page; `ack(lastSeq)` deletes the page. */
  lastSeq: number;
}

/** The spool's file, driven by its worker thread. */
export interface SpoolEngine {
  /** Queues a batch for the next group commit; `done` hears once it is committed (with the state then), `fail` if not. */
  append(records: readonly AuditRecord[], done: (state: SpoolState) => void, fail: (error: unknown) => void): void;
  /** The oldest `limit` records. */
  peek(limit: number): SpoolPage;
  /** Deletes every record up to `lastSeq`, once the store has them. */
  ack(lastSeq: number): SpoolState;
  stats(): SpoolState;
  /** Commits what waits, then closes the file. */
  close(): void;
}

/** The spool's one table; its name is its own, so that the file may be any app's database too. */
const TABLE = 'audit_spool';

interface Waiting {
  rows: Array<[id: string, body: string]>;
  bytes: number;
  done: (state: SpoolState) => void;
  fail: (error: unknown) => void;
}

/**
 * Opens the spool file: a table of records in arrival order, each kept as
 * the JSON the store will be handed. Appends are grouped: a batch arriving
 * within `groupCommitMs` of the last commit waits for the next one, which
 * commits the whole group in one transaction; a batch arriving later
 * commits at once.
 */
export function openSpoolEngine(config: SpoolEngineConfig): SpoolEngine {
  const db: SqliteDatabase = openPath(config.path);
  try {
    db.exec(`PRAGMA busy_timeout = ${config.busyTimeout}`);
    db.prepare('PRAGMA journal_mode = WAL').get();
    db.exec(`PRAGMA synchronous = ${config.synchronous.toUpperCase()}`);
    db.exec(
      `CREATE TABLE IF NOT EXISTS ${TABLE} (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, spooled_at INTEGER NOT NULL, body TEXT NOT NULL) STRICT`,
    );
  } catch (error) {
    db.close();
    throw error;
  }
  const insert = db.prepare(`INSERT INTO ${TABLE} (id, spooled_at, body) VALUES (?, ?, ?)`);
  const page = db.prepare(`SELECT seq, body FROM ${TABLE} ORDER BY seq LIMIT ?`);
  const remove = db.prepare(`DELETE FROM ${TABLE} WHERE seq <= ?`);
  const oldest = db.prepare(`SELECT spooled_at FROM ${TABLE} ORDER BY seq LIMIT 1`);
  const totals = db.prepare(`SELECT count(*) AS records, coalesce(sum(length(CAST(body AS BLOB))), 0) AS bytes FROM ${TABLE}`);

  const initial = totals.get() as { records: number | bigint; bytes: number | bigint };
  const state: SpoolState = { records: Number(initial.records), bytes: Number(initial.bytes), oldestSpooledAt: null };
  const readOldest = () => {
    const row = oldest.get() as { spooled_at: number | bigint } | undefined | null;
    state.oldestSpooledAt = row ? Number(row.spooled_at) : null;
  };
  readOldest();

  let group: Waiting[] = [];
  let groupBytes = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lastCommit = 0;
  /** The last page handed out, so that its acknowledgement need not count the table again. */
  let lastPage = { lastSeq: -1, records: 0, bytes: 0 };

  const commit = (): void => {
    timer = null;
    const committing = group;
    group = [];
    const bytes = groupBytes;
    groupBytes = 0;
    if (committing.length === 0) return;
    const now = Date.now();
    try {
      inTransaction(db, () => {
        for (const waiting of committing) for (const [id, body] of waiting.rows) insert.run(id, now, body);
      });
    } catch (error) {
      for (const waiting of committing) waiting.fail(error);
      return;
    } finally {
      lastCommit = Date.now();
    }
    state.records += committing.reduce((n, w) => n + w.rows.length, 0);
    state.bytes += bytes;
    state.oldestSpooledAt ??= now;
    for (const waiting of committing) waiting.done({ ...state });
  };

  return {
    append(records, done, fail) {
      const rows = records.map((record): [string, string] => [record.id, JSON.stringify(record)]);
      const bytes = rows.reduce((n, [, body]) => n + Buffer.byteLength(body), 0);
      if (state.bytes + groupBytes + bytes > config.maxBytes) {
        fail(
          new AuditError(
            'queue_full',
            `spooled: the spool is full (${state.bytes + groupBytes} of ${config.maxBytes} bytes, ${state.records} records waiting); ${records.length} record(s) not spooled`,
            { records: records.length },
          ),
        );
        return;
      }
      group.push({ rows, bytes, done, fail });
      groupBytes += bytes;
      if (timer) return;
      const wait = lastCommit + config.groupCommitMs - Date.now();
      // At once after a quiet spell (still after the messages already waiting, so that they join the group).
      timer = wait > 0 ? setTimeout(commit, wait) : (setImmediate(commit) as unknown as ReturnType<typeof setTimeout>);
    },
    peek(limit) {
      const rows = page.all(limit) as Array<{ seq: number | bigint; body: string }>;
      const lastSeq = rows.length === 0 ? 0 : Number(rows.at(-1)!.seq);
      lastPage = { lastSeq, records: rows.length, bytes: rows.reduce((n, row) => n + Buffer.byteLength(row.body), 0) };
      return { records: rows.map((row) => JSON.parse(row.body) as AuditRecord), lastSeq };
    },
    ack(lastSeq) {
      inTransaction(db, () => remove.run(lastSeq));
      if (lastPage.lastSeq === lastSeq) {
        state.records -= lastPage.records;
        state.bytes -= lastPage.bytes;
      } else {
        const now = totals.get() as { records: number | bigint; bytes: number | bigint };
        state.records = Number(now.records);
        state.bytes = Number(now.bytes);
      }
      lastPage = { lastSeq: -1, records: 0, bytes: 0 };
      readOldest();
      return { ...state };
    },
    stats: () => ({ ...state }),
    close() {
      if (timer) {
        clearTimeout(timer);
        clearImmediate(timer as unknown as ReturnType<typeof setImmediate>);
      }
      commit();
      db.close();
    },
  };
}
