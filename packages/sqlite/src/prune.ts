import { AuditError } from '@audit-trail/core';
import { compareAccounts, type LegalHold, type PruneAnchor, type RetentionStorage } from '@audit-trail/core/store';
import { inTransaction, type SqliteDatabase } from './database.ts';
import { CHAIN_OBJECTS, RETENTION_OBJECTS } from './schema.ts';

const ANCHORS = RETENTION_OBJECTS.anchorsTable;
const HOLDS = RETENTION_OBJECTS.holdsTable;
const ANCHOR_COLUMNS = 'account_id, first_seq, seq, hash, count, before, created, bundle_digest, signature';

type AnchorRow = Omit<PruneAnchor, 'account' | 'first_seq' | 'seq' | 'count'> & {
  account_id: string | null;
  first_seq: number | bigint;
  seq: number | bigint;
  count: number | bigint;
};

const anchorOfRow = (row: AnchorRow): PruneAnchor => ({
  account: row.account_id,
  first_seq: Number(row.first_seq),
  seq: Number(row.seq),
  hash: row.hash,
  count: Number(row.count),
  before: row.before,
  created: row.created,
  bundle_digest: row.bundle_digest,
  signature: row.signature,
});

/**
 * The retention tables of a SQLite store (migration 5): prune anchors, legal
 * holds, and deletes of a run of chain positions, each its own short
 * `BEGIN IMMEDIATE` transaction so that the writer waits at most one batch.
 */
export function sqliteRetention(db: SqliteDatabase, assertOpen: () => void): RetentionStorage {
  const s = {
    all: db.prepare(`SELECT ${ANCHOR_COLUMNS} FROM ${ANCHORS} ORDER BY account_id, seq`),
    ofAccount: db.prepare(`SELECT ${ANCHOR_COLUMNS} FROM ${ANCHORS} WHERE account_id IS ? ORDER BY seq`),
    insert: db.prepare(`INSERT INTO ${ANCHORS} (${ANCHOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    delete: db.prepare(`DELETE FROM audit_records INDEXED BY ${CHAIN_OBJECTS.chainIndex} WHERE account_id IS ? AND chain_seq >= ? AND chain_seq <= ?`),
    changes: db.prepare('SELECT changes() AS n'),
    holds: db.prepare(`SELECT account_id, reason, held_at FROM ${HOLDS} WHERE released_at IS NULL`),
    held: db.prepare(`SELECT 1 AS found FROM ${HOLDS} WHERE account_id = ? AND released_at IS NULL`),
    hold: db.prepare(`INSERT INTO ${HOLDS} (account_id, reason, held_at) VALUES (?, ?, ?)`),
    release: db.prepare(`UPDATE ${HOLDS} SET released_at = ? WHERE account_id = ? AND released_at IS NULL`),
  };
  const guarded = <T>(work: () => T): T => {
    assertOpen();
    try {
      return work();
    } catch (error) {
      throw new AuditError('store_failed', `sqliteStore: retention: ${(error as Error).message}`, { cause: error });
    }
  };
  return {
    async anchors(accountId) {
      return guarded(() => {
        const rows = (accountId === undefined ? s.all.all() : s.ofAccount.all(accountId)) as AnchorRow[];
        return rows.map(anchorOfRow).sort((a, b) => compareAccounts(a.account, b.account) || a.seq - b.seq);
      });
    },
    async addAnchor(a) {
      guarded(() => inTransaction(db, () => s.insert.run(a.account, a.first_seq, a.seq, a.hash, a.count, a.before, a.created, a.bundle_digest, a.signature)));
    },
    async deleteChain(accountId, fromSeq, throughSeq) {
      return guarded(() =>
        inTransaction(db, () => {
          s.delete.run(accountId, fromSeq, throughSeq);
          return Number((s.changes.get() as { n: number | bigint }).n);
        }),
      );
    },
    async holds() {
      return guarded(() =>
        (s.holds.all() as Array<{ account_id: string; reason: string | null; held_at: string }>)
          .map((row): LegalHold => ({ account: row.account_id, reason: row.reason, held_at: row.held_at }))
          .sort((a, b) => compareAccounts(a.account, b.account)),
      );
    },
    async hold(account, reason, at) {
      return guarded(() =>
        inTransaction(db, () => {
          if (s.held.get(account)) return false;
          s.hold.run(account, reason, at);
          return true;
        }),
      );
    },
    async release(account, at) {
      return guarded(() =>
        inTransaction(db, () => {
          if (!s.held.get(account)) return false;
          s.release.run(at, account);
          return true;
        }),
      );
    },
  };
}
