import { createCheckpoint, verify, type AuditRecord, type Checkpoint, type Store, type VerifyResult } from '@audit-trail/core';
import { chainDocument } from '@audit-trail/core/store';
import { nodeChainHasher } from '@audit-trail/sqlite';
import { sampleRecord } from '@audit-trail/store-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Tampering by direct SQL, as someone with write access to the database would
// do it, against 10,000 chained records; each case undoes its damage. Shared by
// the SQLite and PostgreSQL files, which differ only in how they run SQL.

export const COUNT = 10_000;
export const PLAIN = 'acc_tamper_plain';
export const KEYED = 'acc_tamper_keyed';
export const CHAIN_KEY = 'tamper-evidence-chain-key-0123456';
const SIGNING_KEY = 'tamper-evidence-checkpoint-key-!';

/** A row of the audit table, as the database returns it. */
export type Row = Record<string, unknown>;

/** One database under test: its SQL and its stores. */
export interface Backend {
  name: string;
  /** Runs SQL with `?` placeholders; resolves to the rows it returns. */
  sql(text: string, parameters?: unknown[]): Promise<Row[]>;
  /** Inserts a row given as the database returned it (from `SELECT *`). */
  insertRow(row: Row): Promise<void>;
  /** The audit table and the chain heads table, as SQL names. */
  records: string;
  heads: string;
  /** A store of the default chain (SHA-256) and one with `chain: { key: CHAIN_KEY }`, on the same tables. */
  plainStore: Store;
  keyedStore: Store;
  close(): Promise<void>;
}

/** The 10,000 records of an account, with the ids in chain order. */
function recordsOf(account: string): AuditRecord[] {
  const base = Date.UTC(2026, 2, 1);
  return Array.from({ length: COUNT }, (_, i) =>
    sampleRecord({
      account_id: account,
      created: new Date(base + i * 1500).toISOString(),
      action_type: i % 4 === 0 ? 'capture' : 'refund',
      resource_id: `pay_${i % 211}`,
      user: { id: `usr_${i % 13}` },
      details: { amount: i * 7, note: `tamper ${i}`, nested: { ok: true } },
      // Every tenth record says what it changed (the others have `changes` null).
      changes: i % 10 === 0 ? { amount: { from: i, to: i * 7 }, 'retry.max_attempts': { from: null, to: 3 } } : null,
    }),
  );
}

export function tamperEvidence(open: () => Promise<Backend>): void {
  describe('tamper evidence on 10,000 records, by direct SQL', () => {
    let db: Backend;
    let checkpoint: Checkpoint;
    const ids: Record<string, string[]> = {};
    const plainHasher = nodeChainHasher();
    const keyedHasher = nodeChainHasher(CHAIN_KEY);

    beforeAll(async () => {
      db = await open();
      for (const [account, store] of [
        [PLAIN, db.plainStore],
        [KEYED, db.keyedStore],
      ] as const) {
        const records = recordsOf(account);
        ids[account] = records.map((r) => r.id);
        for (let i = 0; i < COUNT; i += 1000) await store.append(records.slice(i, i + 1000));
      }
      checkpoint = await createCheckpoint(db.plainStore, { key: SIGNING_KEY, hasher: plainHasher, account: PLAIN });
    }, 120_000);

    afterAll(async () => {
      await db?.close();
    });

    const id = (seq: number, account = PLAIN) => ids[account]![seq - 1]!;
    const rowAt = async (seq: number, account = PLAIN): Promise<Row> => {
      const [row] = await db.sql(`SELECT * FROM ${db.records} WHERE account_id = ? AND chain_seq = ?`, [account, seq]);
      if (!row) throw new Error(`no row #${seq} of ${account}`);
      return row;
    };
    const check = (account = PLAIN, options: Parameters<typeof verify>[1] = {}): Promise<VerifyResult> =>
      verify(account === KEYED ? db.keyedStore : db.plainStore, { account, hasher: account === KEYED ? keyedHasher : plainHasher, ...options });

    /**
     * Runs `tamper` on the rows at `seqs` (and whatever rows it inserts, by
     * id), checks, then puts every row and the head back as they were.
     */
    async function tampering<T>(account: string, seqs: number[], tamper: () => Promise<string[] | void>, then: () => Promise<T>): Promise<T> {
      const saved = await Promise.all(seqs.map((seq) => rowAt(seq, account)));
      const [head] = await db.sql(`SELECT seq, hash FROM ${db.heads} WHERE account_id = ?`, [account]);
      let forged: string[] = [];
      try {
        forged = (await tamper()) ?? [];
        return await then();
      } finally {
        const gone = [...saved.map((row) => row.id as string), ...forged];
        for (const rowId of gone) await db.sql(`DELETE FROM ${db.records} WHERE id = ?`, [rowId]);
        for (const row of saved) await db.insertRow(row);
        await db.sql(`UPDATE ${db.heads} SET seq = ?, hash = ? WHERE account_id = ?`, [head!.seq, head!.hash, account]);
      }
    }

    const expectBreak = (result: VerifyResult, kind: string, seq: number | null, recordId: string | null, account = PLAIN) => {
      expect(result, JSON.stringify(result).slice(0, 400)).toMatchObject({ ok: false, account, kind, seq, record_id: recordId });
    };

    it('verifies both chains intact to begin with', async () => {
      expect(await check(PLAIN)).toMatchObject({ ok: true, verified: COUNT });
      expect(await check(KEYED)).toMatchObject({ ok: true, verified: COUNT });
    });

    describe('an UPDATE of one record is named', () => {
      it.each([
        ['the first', 1],
        ['a middle', 5000],
        ['the last', COUNT],
      ])('%s record', async (_, seq) => {
        const result = await tampering(PLAIN, [seq], async () => void (await db.sql(`UPDATE ${db.records} SET resource_id = 'pay_forged' WHERE id = ?`, [id(seq)])), () => check());
        expectBreak(result, 'modified', seq, id(seq));
      });

      it('details only', async () => {
        const result = await tampering(
          PLAIN,
          [4321],
          async () => void (await db.sql(`UPDATE ${db.records} SET details = ? WHERE id = ?`, [JSON.stringify({ amount: 0, note: 'tamper 4320', nested: { ok: true } }), id(4321)])),
          () => check(),
        );
        expectBreak(result, 'modified', 4321, id(4321));
      });

      it.each([
        ['an edited value', 4001, { amount: { from: 4000, to: 0 }, 'retry.max_attempts': { from: null, to: 3 } }],
        ['an entry removed', 4011, { amount: { from: 4010, to: 28070 } }],
        ['changes set to NULL where they were recorded', 4021, null],
        ['changes added where none were recorded', 4022, { url: { from: 'https://a.example', to: 'https://b.example' } }],
      ] as const)('changes only: %s', async (_, seq, changes) => {
        const result = await tampering(
          PLAIN,
          [seq],
          async () => void (await db.sql(`UPDATE ${db.records} SET changes = ? WHERE id = ?`, [changes === null ? null : JSON.stringify(changes), id(seq)])),
          () => check(),
        );
        expectBreak(result, 'modified', seq, id(seq));
      });

      it('created only, by one millisecond', async () => {
        const row = await rowAt(777);
        const later = new Date(new Date(row.created as string | Date).getTime() + 1).toISOString();
        const result = await tampering(PLAIN, [777], async () => void (await db.sql(`UPDATE ${db.records} SET created = ? WHERE id = ?`, [later, id(777)])), () => check());
        expectBreak(result, 'modified', 777, id(777));
      });
    });

    describe('a DELETE of one record is named', () => {
      it.each([
        ['the first', 1],
        ['a middle', 5000],
      ])('%s record', async (_, seq) => {
        const result = await tampering(PLAIN, [seq], async () => void (await db.sql(`DELETE FROM ${db.records} WHERE id = ?`, [id(seq)])), () => check());
        expectBreak(result, 'deleted', seq, id(seq + 1));
      });
    });

    describe('an INSERT of a forged record is named', () => {
      const forge = async (seq: number | null, prevHash: string | null, hash: (row: Row) => string | null, account = PLAIN): Promise<string[]> => {
        const template = await rowAt(10, account);
        const forgedId = `aud_forged_${crypto.randomUUID()}`;
        const row: Row = { ...template, id: forgedId, resource_id: 'pay_forged', chain_seq: seq, prev_hash: prevHash, hash: null };
        row.hash = hash(row);
        await db.insertRow(row);
        return [forgedId];
      };

      it('without a chain position', async () => {
        let forgedId = '';
        const result = await tampering(PLAIN, [], async () => [(forgedId = (await forge(null, null, () => null))[0]!)], () => check());
        expectBreak(result, 'inserted', null, forgedId);
      });

      it('with a forged position after the last, linked, and a correctly recomputed SHA-256: beyond the store head', async () => {
        const head = await rowAt(COUNT);
        let forgedId = '';
        const result = await tampering(
          PLAIN,
          [],
          async () => [
            (forgedId = (await forge(COUNT + 1, head.hash as string, (row) => plainHasher.hash(chainDocument(recordOfRow(db.name, row), COUNT + 1, head.hash as string))))[0]!),
          ],
          () => check(),
        );
        expectBreak(result, 'inserted', COUNT + 1, forgedId);
      });

      it('with a forged position below the chain', async () => {
        let forgedId = '';
        const result = await tampering(PLAIN, [], async () => [(forgedId = (await forge(0, '0'.repeat(64), () => 'f'.repeat(64)))[0]!)], () => check());
        expectBreak(result, 'inserted', 0, forgedId);
      });
    });

    describe('reordering is named', () => {
      /** Swaps the positions (and links) of two rows; through a free position, since (account, seq) is unique. */
      const swap = async (a: number, b: number) => {
        const [rowA, rowB] = [await rowAt(a), await rowAt(b)];
        await db.sql(`UPDATE ${db.records} SET chain_seq = -1 WHERE id = ?`, [rowA.id]);
        await db.sql(`UPDATE ${db.records} SET chain_seq = ?, prev_hash = ? WHERE id = ?`, [a, rowA.prev_hash, rowB.id]);
        await db.sql(`UPDATE ${db.records} SET chain_seq = ?, prev_hash = ? WHERE id = ?`, [b, rowB.prev_hash, rowA.id]);
      };

      it('two neighbours swapped', async () => {
        const result = await tampering(PLAIN, [100, 101], () => swap(100, 101), () => check());
        expectBreak(result, 'reordered', 100, id(101));
      });

      it('two distant records swapped', async () => {
        const result = await tampering(PLAIN, [10, 9000], () => swap(10, 9000), () => check());
        expectBreak(result, 'reordered', 10, id(9000));
      });
    });

    describe('truncation: the newest 5 records deleted', () => {
      const newest = [COUNT - 4, COUNT - 3, COUNT - 2, COUNT - 1, COUNT];
      const truncate = async (moveHead: boolean) => {
        await db.sql(`DELETE FROM ${db.records} WHERE account_id = ? AND chain_seq > ?`, [PLAIN, COUNT - 5]);
        if (moveHead) {
          const last = await rowAt(COUNT - 5);
          await db.sql(`UPDATE ${db.heads} SET seq = ?, hash = ? WHERE account_id = ?`, [COUNT - 5, last.hash, PLAIN]);
        }
      };

      it('is named against the store head when the head row was left', async () => {
        const result = await tampering(PLAIN, newest, () => truncate(false), () => check());
        expectBreak(result, 'truncated', COUNT - 4, null);
      });

      it('is NOT detectable without a checkpoint when the head row was moved back too: the limit of a chain alone', async () => {
        const result = await tampering(PLAIN, newest, () => truncate(true), () => check());
        expect(result.ok).toBe(true);
      });

      it('is named against a checkpoint taken before', async () => {
        const result = await tampering(PLAIN, newest, () => truncate(true), () => check(PLAIN, { checkpoint, checkpointKey: SIGNING_KEY }));
        expectBreak(result, 'truncated', COUNT - 4, null);
      });
    });

    it('a keyed chain names a record changed by a forger who recomputed every hash after it, and the head, with SHA-256', async () => {
      const from = COUNT - 10;
      const seqs = Array.from({ length: 11 }, (_, i) => from + i);
      const result = await tampering(
        KEYED,
        seqs,
        async () => {
          let prev = (await rowAt(from - 1, KEYED)).hash as string;
          for (const seq of seqs) {
            const row = await rowAt(seq, KEYED);
            if (seq === from) row.outcome = row.outcome === 'success' ? 'failure' : 'success';
            const hash = plainHasher.hash(chainDocument(recordOfRow(db.name, row), seq, prev));
            await db.sql(`UPDATE ${db.records} SET outcome = ?, prev_hash = ?, hash = ? WHERE id = ?`, [row.outcome, prev, hash, row.id]);
            prev = hash;
          }
          await db.sql(`UPDATE ${db.heads} SET hash = ? WHERE account_id = ?`, [prev, KEYED]);
        },
        () => check(KEYED),
      );
      expectBreak(result, 'modified', from, id(from, KEYED), KEYED);
    });

    it('every tampering above was undone: both chains verify intact again', async () => {
      expect(await check(PLAIN, { checkpoint, checkpointKey: SIGNING_KEY })).toMatchObject({ ok: true, verified: COUNT });
      expect(await check(KEYED)).toMatchObject({ ok: true, verified: COUNT });
    });
  });
}

/** A record from a raw row of either store's table, as its store reads it back. */
export function recordOfRow(backend: string, row: Row): AuditRecord {
  const text = (value: unknown) => (value === null || value === undefined ? null : String(value));
  const json = <T>(value: unknown): T => (typeof value === 'string' ? (JSON.parse(value) as T) : (value as T));
  const created = row.created instanceof Date ? row.created.toISOString() : String(row.created);
  const request =
    backend === 'postgres'
      ? json<AuditRecord['request']>(row.request)
      : {
          method: text(row.request_method),
          path: text(row.request_path),
          route: text(row.request_route),
          ip: text(row.request_ip),
          user_agent: text(row.request_user_agent),
          request_id: text(row.request_id),
        };
  return {
    id: String(row.id),
    created,
    action_type: String(row.action_type),
    resource: String(row.resource),
    resource_id: text(row.resource_id),
    user: { id: String(row.user_id), email: text(row.user_email) },
    account_id: text(row.account_id),
    app_id: text(row.app_id),
    outcome: row.outcome as AuditRecord['outcome'],
    status_code: row.status_code === null ? null : Number(row.status_code),
    request,
    trace: row.trace_id === null ? null : { trace_id: String(row.trace_id), span_id: String(row.span_id) },
    details: json<AuditRecord['details']>(row.details),
    changes: row.changes === null || row.changes === undefined ? null : json<NonNullable<AuditRecord['changes']>>(row.changes),
  };
}
