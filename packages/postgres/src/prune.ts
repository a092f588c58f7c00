import { AuditError } from '@audit-trail/core';
import { compareAccounts, type LegalHold, type PruneAnchor, type RetentionStorage } from '@audit-trail/core/store';
import { inTransaction, type PostgresPool } from './client.ts';
import { retentionTables, type TableNames } from './migrations.ts';

const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${column}`;
const ANCHOR_SELECT = `account_id, first_seq, seq, hash, count, ${iso('before')}, ${iso('created')}, bundle_digest, signature`;

type AnchorRow = { account_id: string | null; first_seq: string; seq: string; hash: string; count: string; before: string; created: string; bundle_digest: string; signature: string };

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
 * The retention tables of a PostgreSQL store (migration 5): prune anchors,
 * legal holds, and deletes of a run of chain positions. A delete is one
 * statement over the `(account_id, chain_seq)` index: it locks only the rows
 * it removes, never the chain heads, so appends go on beside it.
 */
export function postgresRetention(pool: PostgresPool, names: TableNames, ready: (operation: string) => Promise<void>): RetentionStorage {
  const { anchors, holds } = retentionTables(names);
  const t = names.qualifiedTable;
  const run = async <T>(operation: string, work: () => Promise<T>): Promise<T> => {
    await ready(operation);
    try {
      return await work();
    } catch (error) {
      throw new AuditError('store_failed', `postgresStore: ${operation}: ${(error as Error).message}`, { cause: error });
    }
  };
  return {
    anchors(accountId) {
      return run('retention.anchors', async () => {
        const { rows } =
          accountId === undefined
            ? await pool.query(`SELECT ${ANCHOR_SELECT} FROM ${anchors} ORDER BY seq`)
            : await pool.query(`SELECT ${ANCHOR_SELECT} FROM ${anchors} WHERE account_id IS NOT DISTINCT FROM $1::text ORDER BY seq`, [accountId]);
        return (rows as AnchorRow[]).map(anchorOfRow).sort((a, b) => compareAccounts(a.account, b.account) || a.seq - b.seq);
      });
    },
    addAnchor(a) {
      return run('retention.addAnchor', async () => {
        await pool.query(
          `INSERT INTO ${anchors} (account_id, first_seq, seq, hash, count, before, created, bundle_digest, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [a.account, a.first_seq, a.seq, a.hash, a.count, a.before, a.created, a.bundle_digest, a.signature],
        );
      });
    },
    deleteChain(accountId, fromSeq, throughSeq) {
      return run('retention.deleteChain', async () => {
        const { rows } =
          accountId === null
            ? await pool.query(`WITH gone AS (DELETE FROM ${t} WHERE account_id IS NULL AND chain_seq BETWEEN $1 AND $2 RETURNING 1) SELECT count(*)::int AS n FROM gone`, [fromSeq, throughSeq])
            : await pool.query(`WITH gone AS (DELETE FROM ${t} WHERE account_id = $1 AND chain_seq BETWEEN $2 AND $3 RETURNING 1) SELECT count(*)::int AS n FROM gone`, [accountId, fromSeq, throughSeq]);
        return (rows[0] as { n: number }).n;
      });
    },
    holds() {
      return run('retention.holds', async () => {
        const { rows } = await pool.query(`SELECT account_id, reason, ${iso('held_at')} FROM ${holds} WHERE released_at IS NULL`);
        return (rows as Array<{ account_id: string; reason: string | null; held_at: string }>)
          .map((row): LegalHold => ({ account: row.account_id, reason: row.reason, held_at: row.held_at }))
          .sort((a, b) => compareAccounts(a.account, b.account));
      });
    },
    hold(account, reason, at) {
      return run('retention.hold', async () => {
        const { rows } = await pool.query(
          `INSERT INTO ${holds} (account_id, reason, held_at) VALUES ($1, $2, $3) ON CONFLICT (account_id) WHERE released_at IS NULL DO NOTHING RETURNING 1`,
          [account, reason, at],
        );
        return rows.length > 0;
      });
    },
    release(account, at) {
      return run('retention.release', () =>
        inTransaction(pool, async (client) => {
          const { rows } = await client.query(`UPDATE ${holds} SET released_at = $2 WHERE account_id = $1 AND released_at IS NULL RETURNING 1`, [account, at]);
          return rows.length > 0;
        }),
      );
    },
  };
}
