import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prune, RetentionError, setLegalHold, verify, verifyBundle, type AuditRecord, type BundleSink, type Store } from '@audit-trail/core';
import { nodeChainHasher } from '@audit-trail/core/store';
import { sampleRecord } from '@audit-trail/store-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Retention on a real database: prune, then verify; holds, the minimum age,
// an interrupted prune, a forged anchor. Shared by the SQLite and PostgreSQL
// files, which differ only in how they open a store and run SQL.

export const RETENTION_CHAIN_KEY = 'retention-test-chain-key-0123456';
export const RETENTION_SIGNING_KEY = 'retention-test-bundle-signing-k!';

/** One database under test. */
export interface RetentionBackend {
  /** A fresh store (own tables) with `chain: { key: RETENTION_CHAIN_KEY }`. */
  open(): Promise<{ store: Store; sql(text: string, parameters?: unknown[]): Promise<Array<Record<string, unknown>>>; anchors: string; records: string }>;
  close(): Promise<void>;
}

const DAY = 86_400_000;
/** Two years ago, so that the default minimum age (365 days) allows pruning the older half. */
const START = Date.now() - 800 * DAY;

/** `n` records of `account`, one an hour from `START + offset` hours. */
export function oldRecords(account: string, n: number, offset = 0): AuditRecord[] {
  return Array.from({ length: n }, (_, i) =>
    sampleRecord({ account_id: account, created: new Date(START + (offset + i) * 3_600_000).toISOString(), details: { i: offset + i } }),
  );
}

/** The instant `hours` after `START`. */
export const hoursAfterStart = (hours: number) => new Date(START + hours * 3_600_000).toISOString();

/** A bundle kept in memory. */
export function memorySink(): BundleSink & { text(): string; closed: boolean } {
  let text = '';
  const sink = {
    closed: false,
    write(chunk: string) {
      text += chunk;
    },
    close() {
      sink.closed = true;
    },
    text: () => text,
  };
  return sink;
}

const hasher = nodeChainHasher(RETENTION_CHAIN_KEY);
const options = (archive: BundleSink, before: string, extra: Partial<Parameters<typeof prune>[1]> = {}) => ({
  before,
  archive,
  signingKey: RETENTION_SIGNING_KEY,
  hasher,
  digester: nodeChainHasher(),
  batchSize: 70,
  ...extra,
});

export function retentionScenarios(name: string, backend: () => Promise<RetentionBackend>): void {
  describe(`retention on ${name}`, () => {
    let db: RetentionBackend;
    beforeAll(async () => {
      db = await backend();
    });
    afterAll(async () => {
      await db?.close();
    });

    it('prunes the records before the cutoff into a bundle, and verify still passes from the signed anchor', async () => {
      const { store, sql, records } = await db.open();
      await store.append([...oldRecords('acc_a', 500), ...oldRecords('acc_b', 300)]);
      const before = hoursAfterStart(200);
      const archive = memorySink();
      const result = await prune(store, options(archive, before));

      expect(archive.closed).toBe(true);
      expect(result.deleted).toBe(400);
      expect(result.anchors.map((a) => [a.account, a.first_seq, a.seq, a.count])).toEqual([
        ['acc_a', 1, 200, 200],
        ['acc_b', 1, 200, 200],
      ]);
      const left = await sql(`SELECT account_id, count(*) AS n, min(chain_seq) AS first FROM ${records} GROUP BY account_id ORDER BY account_id`);
      expect(left.map((row) => [row.account_id, Number(row.n), Number(row.first)])).toEqual([
        ['acc_a', 300, 201],
        ['acc_b', 100, 201],
      ]);
      const oldest = await store.query({ accountId: 'acc_a', filter: {}, order: 'asc', limit: 1 });
      expect(oldest[0]!.created >= before).toBe(true);

      const verified = await verify(store, { hasher });
      expect(verified).toMatchObject({ ok: true, verified: 400 });
      if (verified.ok) expect(verified.accounts.map((a) => [a.account, a.first_seq, a.seq, a.pruned_through])).toEqual([
        ['acc_a', 201, 500, 200],
        ['acc_b', 201, 300, 200],
      ]);

      // The app goes on appending; the chain goes on verifying.
      await store.append(oldRecords('acc_a', 5, 600));
      expect(await verify(store, { hasher })).toMatchObject({ ok: true, verified: 405 });

      // The bundle holds exactly the pruned records and checks on its own.
      const bundle = await verifyBundle(archive.text().split('\n'), { key: RETENTION_SIGNING_KEY, hasher });
      expect(bundle).toMatchObject({ ok: true, records: 400, hashes_checked: true });
      expect(result.anchors[0]!.bundle_digest).toBe(bundle.ok ? bundle.checkpoint.lines_digest : '');
    });

    it('without its anchor, or with an anchor edited, the pruned chain does not verify', async () => {
      const { store, sql, anchors } = await db.open();
      await store.append(oldRecords('acc_a', 120));
      await prune(store, options(memorySink(), hoursAfterStart(50)));
      expect((await verify(store, { hasher })).ok).toBe(true);

      // An anchor moved to hide more deleted records: its signature no longer checks.
      await sql(`UPDATE ${anchors} SET seq = 40`);
      expect(await verify(store, { hasher })).toMatchObject({ ok: false, account: 'acc_a', kind: 'deleted', seq: 40 });
      await sql(`UPDATE ${anchors} SET seq = 50`);
      expect((await verify(store, { hasher })).ok).toBe(true);

      // Verified with no key, the keyed anchor does not check either.
      expect((await verify(store)).ok).toBe(false);

      await sql(`DELETE FROM ${anchors}`);
      expect(await verify(store, { hasher })).toMatchObject({ ok: false, account: 'acc_a', kind: 'deleted', seq: 1 });
    });

    it('refuses a prune below the minimum age, and one without an archive; nothing is deleted', async () => {
      const { store, sql, records } = await db.open();
      await store.append(oldRecords('acc_a', 50));
      const count = async () => Number((await sql(`SELECT count(*) AS n FROM ${records}`))[0]!.n);

      const young = new Date(Date.now() - 100 * DAY).toISOString();
      await expect(prune(store, options(memorySink(), young))).rejects.toMatchObject({ name: 'RetentionError', code: 'below_minimum_age' });
      // A longer minimum age refuses older cutoffs too.
      await expect(prune(store, options(memorySink(), hoursAfterStart(10), { minAgeDays: 900 }))).rejects.toMatchObject({ code: 'below_minimum_age' });
      await expect(prune(store, { ...options(memorySink(), hoursAfterStart(10)), archive: undefined as never })).rejects.toBeInstanceOf(RetentionError);
      expect(await count()).toBe(50);
      // A shorter configured minimum age allows it.
      expect((await prune(store, options(memorySink(), young, { minAgeDays: 30 }))).deleted).toBe(50);
      expect(await count()).toBe(0);
      // Every record pruned: the chain is empty and continues from its anchor.
      expect(await verify(store, { hasher })).toMatchObject({ ok: true, accounts: [{ account: 'acc_a', count: 0, seq: 50, pruned_through: 50 }] });
      await store.append(oldRecords('acc_a', 3, 900));
      expect(await verify(store, { hasher })).toMatchObject({ ok: true, accounts: [{ account: 'acc_a', first_seq: 51, seq: 53 }] });
    });

    it('refuses to prune an account under legal hold, skips it in a prune of all, and prunes it once released', async () => {
      const { store } = await db.open();
      await store.append([...oldRecords('acc_held', 40), ...oldRecords('acc_free', 40)]);
      expect(await setLegalHold(store, 'acc_held', { reason: 'case 42' })).toBe(true);
      expect(await setLegalHold(store, 'acc_held')).toBe(false);
      expect(await store.retention!.holds()).toMatchObject([{ account: 'acc_held', reason: 'case 42' }]);

      const archive = memorySink();
      await expect(prune(store, options(archive, hoursAfterStart(20), { account: 'acc_held' }))).rejects.toMatchObject({ code: 'legal_hold' });
      expect(archive.text()).toBe('');

      const all = await prune(store, options(memorySink(), hoursAfterStart(20)));
      expect(all.held).toEqual(['acc_held']);
      expect(all.anchors.map((a) => a.account)).toEqual(['acc_free']);
      expect((await store.scanChain!('acc_held', null, 1))[0]!.seq).toBe(1);

      expect(await setLegalHold(store, 'acc_held', { release: true })).toBe(true);
      expect(await store.retention!.holds()).toEqual([]);
      expect((await prune(store, options(memorySink(), hoursAfterStart(20), { account: 'acc_held' }))).deleted).toBe(20);
      expect((await verify(store, { hasher })).ok).toBe(true);
    });

    it('an interrupted prune leaves a chain that verifies, and the next prune finishes it', async () => {
      const { store } = await db.open();
      await store.append(oldRecords('acc_a', 300));
      const retention = store.retention!;
      let calls = 0;
      const failing: Store = {
        ...store,
        retention: {
          ...retention,
          anchors: retention.anchors.bind(retention),
          deleteChain: async (...args) => {
            if (++calls > 1) throw new Error('power cut');
            return retention.deleteChain(...args);
          },
        },
      };
      await expect(prune(failing, options(memorySink(), hoursAfterStart(200)))).rejects.toThrow('power cut');
      expect((await store.scanChain!('acc_a', null, 1))[0]!.seq).toBe(71);
      expect(await verify(store, { hasher })).toMatchObject({ ok: true, accounts: [{ first_seq: 71, pruned_through: 200 }] });

      const second = await prune(store, options(memorySink(), hoursAfterStart(250)));
      expect(second.deleted).toBe(130 + 50);
      expect(second.anchors).toMatchObject([{ first_seq: 201, seq: 250 }]);
      expect(await verify(store, { hasher })).toMatchObject({ ok: true, accounts: [{ first_seq: 251, pruned_through: 250 }] });
      expect(await retention.anchors('acc_a')).toHaveLength(2);
    });

    it('prunes beside an app that keeps appending, and every append lands', async () => {
      const { store, sql, records } = await db.open();
      await store.append(oldRecords('acc_busy', 3000));
      let appending = true;
      let appended = 0;
      const writer = (async () => {
        while (appending) {
          await store.append(oldRecords('acc_busy', 5, 10_000 + appended));
          appended += 5;
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      })();
      const result = await prune(store, options(memorySink(), hoursAfterStart(2000), { batchSize: 100 }));
      appending = false;
      await writer;
      expect(result.deleted).toBe(2000);
      expect(appended).toBeGreaterThan(0);
      expect(Number((await sql(`SELECT count(*) AS n FROM ${records}`))[0]!.n)).toBe(1000 + appended);
      expect(await verify(store, { hasher })).toMatchObject({ ok: true, verified: 1000 + appended });
    });
  });
}

/** A temporary directory removed after the file's tests. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
