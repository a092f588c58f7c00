import { createHash, createHmac } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, hashRecord, linkRecordsSync, type ChainedRecord, type SyncChainHasher } from './chain.ts';
import { checkCheckpoint, CheckpointError, createCheckpoint, type Checkpoint } from './checkpoint.ts';
import { memoryStore } from './memory-store.ts';
import type { AuditRecord } from './record.ts';
import type { Store } from './store.ts';
import { verify, type VerifyResult } from './verify.ts';

// The chain and its checks over a table that the tests tamper with directly,
// as someone with write access to the database would: rows with the chain
// columns, and one head row per account. The SQL stores get the same
// treatment with real SQL in test/tamper-evidence.test.ts.

const KEY = 'the-chain-key-of-this-test-suite';
const SIGNING_KEY = 'the-checkpoint-signing-key-here!';
const node = (key?: string): SyncChainHasher =>
  key === undefined
    ? { keyed: false, hash: (text) => createHash('sha256').update(text, 'utf8').digest('hex') }
    : { keyed: true, hash: (text) => createHmac('sha256', key).update(text, 'utf8').digest('hex') };

const BASE = Date.UTC(2026, 10, 27, 10, 0, 0, 0);
const MAIN = 'acc_main';

function makeRecord(i: number, account: string | null): AuditRecord {
  return {
    id: `aud_${String(i).padStart(6, '0')}_${account ?? 'none'}`,
    created: new Date(BASE + i * 1000).toISOString(),
    action_type: i % 3 === 0 ? 'refund' : 'charge',
    resource: 'payment',
    resource_id: `pay_${i % 97}`,
    user: { id: `usr_${i % 7}`, email: i % 2 ? `u${i % 7}@example.com` : null },
    account_id: account,
    app_id: null,
    outcome: i % 10 === 0 ? 'failure' : 'success',
    status_code: i % 10 === 0 ? 402 : 201,
    request: { method: 'POST', path: `/payments/pay_${i}/refunds`, route: '/payments/:payment_id/refunds', ip: '127.0.0.1', user_agent: 'test', request_id: `req_${i}` },
    trace: null,
    details: { amount: i * 10, note: `record ${i}` },
    changes: i % 4 === 0 ? { amount: { from: i, to: i * 10 } } : null,
  };
}

interface Row {
  record: AuditRecord;
  seq: number | null;
  prevHash: string | null;
  hash: string | null;
}

/** A table of rows and heads, and a store reading it the way the SQL stores read theirs. */
class Table {
  rows: Row[] = [];
  heads = new Map<string | null, { seq: number; hash: string }>();
  /** Calls of scanChain: its limit and how many it returned. */
  scans: Array<{ limit: number; returned: number }> = [];

  constructor(readonly hasher: SyncChainHasher) {}

  append(records: AuditRecord[]): void {
    const account = records[0]!.account_id;
    const links = linkRecordsSync(this.heads.get(account) ?? null, records, this.hasher);
    for (const link of links) this.rows.push({ record: structuredClone(link.record), seq: link.seq, prevHash: link.prevHash, hash: link.hash });
    const last = links.at(-1)!;
    this.heads.set(account, { seq: last.seq, hash: last.hash });
  }

  /** A copy to tamper with; rows are copied, records shared until `at` hands one out. */
  clone(): Table {
    const copy = new Table(this.hasher);
    copy.rows = this.rows.map((row) => ({ ...row }));
    copy.heads = new Map(this.heads);
    return copy;
  }

  /** The row at a position of an account's chain, with a record of its own to change. */
  at(seq: number, account: string | null = MAIN): Row {
    const row = this.rows.find((r) => r.record.account_id === account && r.seq === seq);
    if (!row) throw new Error(`no row #${seq}`);
    row.record = structuredClone(row.record);
    return row;
  }

  /** The rows of the main chain from `from` on, in seq order, with records of their own to change. */
  from(from: number): Row[] {
    const rows = this.rows.filter((r) => r.record.account_id === MAIN && r.seq !== null && r.seq >= from).sort((a, b) => a.seq! - b.seq!);
    for (const row of rows) row.record = structuredClone(row.record);
    return rows;
  }

  delete(row: Row): void {
    this.rows.splice(this.rows.indexOf(row), 1);
  }

  /** A store over the table as it is now: tamper first, then read. */
  store(): Store {
    const chains = new Map<string | null, Row[]>();
    const chain = (account: string | null): Row[] => {
      let rows = chains.get(account);
      if (!rows) chains.set(account, (rows = this.rows.filter((r) => r.record.account_id === account && r.seq !== null).sort((a, b) => a.seq! - b.seq!)));
      return rows;
    };
    return {
      append: async () => {
        throw new Error('read-only');
      },
      query: async () => [],
      get: async () => null,
      close: async () => {},
      scanChain: async (account, afterSeq, limit) => {
        const page = chain(account)
          .filter((r) => afterSeq === null || r.seq! > afterSeq)
          .slice(0, limit)
          .map((r): ChainedRecord => ({ record: r.record, seq: r.seq!, prevHash: r.prevHash!, hash: r.hash! }));
        this.scans.push({ limit, returned: page.length });
        return page;
      },
      scanUnchained: async (account, since, limit) =>
        this.rows
          .filter((r) => r.record.account_id === account && r.seq === null && (since === null || r.record.created >= since))
          .slice(0, limit)
          .map((r) => structuredClone(r.record)),
      chainHeads: async (account?: string | null) => {
        if (account !== undefined) return [{ accountId: account, ...(this.heads.get(account) ?? { seq: 0, hash: GENESIS_HASH }) }];
        const accounts = new Set([...this.heads.keys(), ...this.rows.map((r) => r.record.account_id)]);
        return [...accounts].map((a) => ({ accountId: a, ...(this.heads.get(a) ?? { seq: 0, hash: GENESIS_HASH }) }));
      },
    };
  }
}

const COUNT = 10_000;

/** 10,000 records in the main account, in batches of 500, and two small chains beside it. */
function buildTable(hasher: SyncChainHasher): Table {
  const table = new Table(hasher);
  for (let i = 0; i < COUNT; i += 500) table.append(Array.from({ length: 500 }, (_, j) => makeRecord(i + j + 1, MAIN)));
  table.append(Array.from({ length: 100 }, (_, j) => makeRecord(j + 1, 'acc_small')));
  table.append(Array.from({ length: 50 }, (_, j) => makeRecord(j + 1, null)));
  return table;
}

let plain: Table;
let keyed: Table;
beforeAll(() => {
  plain = buildTable(node());
  keyed = buildTable(node(KEY));
});

/** Verifies a copy of the plain table after `tamper` did its work on it. */
async function tampered(tamper: (table: Table) => void, options: Parameters<typeof verify>[1] = {}, base = () => plain): Promise<VerifyResult> {
  const table = base().clone();
  tamper(table);
  return verify(table.store(), { hasher: base().hasher, ...options });
}

const expectBreak = (result: VerifyResult, expected: { kind: string; seq: number | null; record_id?: string | null; account?: string | null }) => {
  expect(result.ok, JSON.stringify(result)).toBe(false);
  expect(result).toMatchObject({ account: MAIN, ...expected });
};

const idAt = (seq: number) => makeRecord(seq, MAIN).id;

describe('verify on 10,000 records', () => {
  it('finds the chains intact, with Web Crypto as with node:crypto', async () => {
    for (const options of [{}, { hasher: node() }]) {
      const result = await verify(plain.store(), options);
      expect(result).toMatchObject({ ok: true, verified: COUNT + 150 });
      if (!result.ok) return;
      expect(result.accounts.map((a) => [a.account, a.first_seq, a.seq, a.count])).toEqual([
        [null, 1, 50, 50],
        ['acc_main', 1, COUNT, COUNT],
        ['acc_small', 1, 100, 100],
      ]);
      expect(result.accounts[1]!.hash).toBe(plain.heads.get(MAIN)!.hash);
    }
  });

  it('reads page by page, never more than pageSize at once, and reports progress', async () => {
    const table = plain.clone();
    const progress: Array<{ account: string | null; verified: number; total?: number }> = [];
    const result = await verify(table.store(), { hasher: node(), account: MAIN, pageSize: 700, onProgress: (p) => progress.push(p) });
    expect(result.ok).toBe(true);
    expect(table.scans.every((scan) => scan.limit === 700 || scan.limit === 1)).toBe(true);
    expect(Math.max(...table.scans.map((s) => s.returned))).toBe(700);
    expect(progress).toHaveLength(Math.ceil(COUNT / 700));
    expect(progress.at(-1)).toEqual({ account: MAIN, verified: COUNT, total: COUNT });
  });

  describe('names the first modified record', () => {
    it.each([
      ['the first', 1],
      ['a middle', 5000],
      ['the last', COUNT],
    ])('%s record, any field', async (_, seq) => {
      const result = await tampered((t) => void (t.at(seq).record.resource_id = 'pay_forged'));
      expectBreak(result, { kind: 'modified', seq, record_id: idAt(seq) });
      expect(result.ok || result.message).toMatch(`record #${seq} (${idAt(seq)}) does not match its hash`);
    });

    it('a change of details only', async () => {
      expectBreak(await tampered((t) => void ((t.at(4321).record.details as { amount: number }).amount = 1)), {
        kind: 'modified',
        seq: 4321,
        record_id: idAt(4321),
      });
    });

    it('a change of created only', async () => {
      expectBreak(await tampered((t) => void (t.at(777).record.created = '2020-01-01T00:00:00.000Z')), {
        kind: 'modified',
        seq: 777,
        record_id: idAt(777),
      });
    });

    it('a change whose hash was recomputed without a key: the next record still links to the old hash', async () => {
      const result = await tampered((t) => {
        const row = t.at(500);
        row.record.outcome = row.record.outcome === 'success' ? 'failure' : 'success';
        row.hash = node().hash(chainDocumentOf(row));
      });
      expectBreak(result, { kind: 'modified', seq: 500, record_id: idAt(500) });
    });

    it('a prev_hash rewritten with its own hash recomputed without a key: it no longer links to the record before', async () => {
      const result = await tampered((t) => {
        const row = t.at(2500);
        row.prevHash = 'a'.repeat(64);
        row.hash = node().hash(chainDocumentOf(row));
        // The next record links to the new hash, so only the broken link to #2499 shows.
        t.at(2501).prevHash = row.hash;
        t.at(2501).hash = node().hash(chainDocumentOf(t.at(2501)));
      });
      // From the rows alone, #2499 changed with its hash recomputed looks the same as #2500's link edited.
      expectBreak(result, { kind: 'modified', seq: 2499, record_id: idAt(2499) });
      expect(result.ok || result.message).toMatch(`record #2500 (${idAt(2500)}) still links to its original hash`);
    });

    it('the first record checked, with a hint, when the key is wrong or missing', async () => {
      const withoutKey = await verify(keyed.store(), { account: MAIN, hasher: node() });
      expectBreak(withoutKey, { kind: 'modified', seq: 1, record_id: idAt(1) });
      expect(withoutKey.ok || withoutKey.message).toMatch(/verify with that key/);
      const wrongKey = await verify(keyed.store(), { account: MAIN, key: 'not-the-key-of-this-test-suite' });
      expect(wrongKey.ok || wrongKey.message).toMatch(/is this the chain key/);
    });
  });

  describe('names deleted records', () => {
    it('the first record', async () => {
      const result = await tampered((t) => t.delete(t.at(1)));
      expectBreak(result, { kind: 'deleted', seq: 1, record_id: idAt(2) });
      expect(result.ok || result.message).toBe(`record #1 is missing: at the start of the chain comes #2 (${idAt(2)})`);
    });

    it('a middle record', async () => {
      const result = await tampered((t) => t.delete(t.at(5000)));
      expectBreak(result, { kind: 'deleted', seq: 5000, record_id: idAt(5001) });
      expect(result.ok || result.message).toBe(`record #5000 is missing: after #4999 (${idAt(4999)}) comes #5001 (${idAt(5001)})`);
    });

    it('a run of records', async () => {
      const result = await tampered((t) => [100, 101, 102].forEach((seq) => t.delete(t.at(seq))));
      expectBreak(result, { kind: 'deleted', seq: 100, record_id: idAt(103) });
    });

    it('a middle record, with the later ones renumbered to close the gap', async () => {
      const result = await tampered((t) => {
        t.delete(t.at(5000));
        for (const row of t.from(5001)) row.seq! -= 1;
        t.heads.set(MAIN, { seq: COUNT - 1, hash: t.heads.get(MAIN)!.hash });
      });
      expectBreak(result, { kind: 'deleted', seq: 5000, record_id: idAt(5001) });
    });
  });

  describe('names inserted records', () => {
    const forged = (): AuditRecord => ({ ...makeRecord(99_999, MAIN), id: 'aud_forged', details: { forged: true } });

    it('a row without a chain position', async () => {
      const result = await tampered((t) => t.rows.push({ record: forged(), seq: null, prevHash: null, hash: null }));
      expectBreak(result, { kind: 'inserted', seq: null, record_id: 'aud_forged' });
    });

    it('a row with a forged position after the last, linked to it with a key-less hash, in a keyed chain', async () => {
      const result = await tampered(
        (t) => {
          const head = t.heads.get(MAIN)!;
          const [link] = linkRecordsSync(head, [forged()], node());
          t.rows.push({ record: link!.record, seq: link!.seq, prevHash: link!.prevHash, hash: link!.hash });
        },
        {},
        () => keyed,
      );
      expectBreak(result, { kind: 'inserted', seq: COUNT + 1, record_id: 'aud_forged' });
    });

    it('the same, with the head row moved as well: the hash gives it away', async () => {
      const result = await tampered(
        (t) => {
          const [link] = linkRecordsSync(t.heads.get(MAIN)!, [forged()], node());
          t.rows.push({ record: link!.record, seq: link!.seq, prevHash: link!.prevHash, hash: link!.hash });
          t.heads.set(MAIN, { seq: link!.seq, hash: link!.hash });
        },
        {},
        () => keyed,
      );
      expect(result).toMatchObject({ ok: false, seq: COUNT + 1, record_id: 'aud_forged' });
    });

    it('a row at position 0, or at a position another row holds', async () => {
      expectBreak(await tampered((t) => t.rows.push({ record: forged(), seq: 0, prevHash: GENESIS_HASH, hash: 'f'.repeat(64) })), {
        kind: 'inserted',
        seq: 0,
        record_id: 'aud_forged',
      });
      // Only possible where the unique index on (account, seq) was dropped.
      expectBreak(await tampered((t) => t.rows.push({ record: forged(), seq: 300, prevHash: t.at(299).hash, hash: 'f'.repeat(64) })), {
        kind: 'inserted',
        seq: 300,
      });
    });

    it('a chain of its own, in an account that had none', async () => {
      const result = await tampered((t) => t.rows.push({ record: { ...forged(), account_id: 'acc_ghost' }, seq: null, prevHash: null, hash: null }));
      expect(result).toMatchObject({ ok: false, account: 'acc_ghost', kind: 'inserted', record_id: 'aud_forged' });
    });
  });

  describe('names reordered records', () => {
    const swap = (t: Table, a: number, b: number, fields: Array<'seq' | 'prevHash'>) => {
      const [x, y] = [t.at(a), t.at(b)];
      for (const field of fields) {
        const held = x[field];
        (x as unknown as Record<string, unknown>)[field] = y[field];
        (y as unknown as Record<string, unknown>)[field] = held;
      }
    };

    it('two neighbours whose seq and prev_hash were swapped', async () => {
      expectBreak(await tampered((t) => swap(t, 100, 101, ['seq', 'prevHash'])), { kind: 'reordered', seq: 100, record_id: idAt(101) });
    });

    it('two neighbours whose seq alone was swapped', async () => {
      expectBreak(await tampered((t) => swap(t, 100, 101, ['seq'])), { kind: 'reordered', seq: 100, record_id: idAt(101) });
    });

    it('two distant records swapped', async () => {
      expectBreak(await tampered((t) => swap(t, 10, 9000, ['seq', 'prevHash'])), { kind: 'reordered', seq: 10, record_id: idAt(9000) });
    });

    it('the last two records swapped', async () => {
      expectBreak(await tampered((t) => swap(t, COUNT - 1, COUNT, ['seq', 'prevHash'])), {
        kind: 'reordered',
        seq: COUNT - 1,
        record_id: idAt(COUNT),
      });
    });
  });

  describe('truncation: the newest records deleted', () => {
    const truncate = (t: Table, n: number, moveHead: boolean) => {
      for (const row of t.from(COUNT - n + 1)) t.delete(row);
      if (moveHead) t.heads.set(MAIN, { seq: COUNT - n, hash: t.at(COUNT - n).hash! });
    };

    it('shows against the store head when only the records were deleted', async () => {
      const result = await tampered((t) => truncate(t, 5, false));
      expectBreak(result, { kind: 'truncated', seq: COUNT - 4, record_id: null });
      expect(result.ok || result.message).toMatch(/5 record\(s\) from #9996 on were deleted/);
    });

    it('does NOT show without a checkpoint when the head row was moved back too: this is the limit of a chain alone', async () => {
      const result = await tampered((t) => truncate(t, 5, true));
      expect(result.ok).toBe(true);
    });

    it('shows against a checkpoint taken before, also when the head row was moved back', async () => {
      const checkpoint = await createCheckpoint(plain.store(), { key: SIGNING_KEY, hasher: node() });
      const result = await tampered((t) => truncate(t, 5, true), { checkpoint, checkpointKey: SIGNING_KEY });
      expectBreak(result, { kind: 'truncated', seq: COUNT - 4, record_id: null });
      expect(result.ok || result.message).toMatch(/the checkpoint of .* recorded account acc_main up to #10000/);
    });

    it('shows a whole account deleted, head and all, against a checkpoint', async () => {
      const checkpoint = await createCheckpoint(plain.store(), { key: SIGNING_KEY, hasher: node() });
      const result = await tampered(
        (t) => {
          t.rows = t.rows.filter((r) => r.record.account_id !== 'acc_small');
          t.heads.delete('acc_small');
        },
        { checkpoint, checkpointKey: SIGNING_KEY },
      );
      expect(result).toMatchObject({ ok: false, account: 'acc_small', kind: 'truncated', seq: 1 });
    });
  });

  describe('keyed chains', () => {
    it('catch a forger who recomputes every hash from the edit on, and the head, with plain SHA-256', async () => {
      const result = await tampered(
        (t) => {
          t.at(500).record.details = { amount: 0 };
          let prev = t.at(499).hash!;
          for (const row of t.from(500)) {
            row.prevHash = prev;
            row.hash = prev = node().hash(chainDocumentOf(row));
          }
          t.heads.set(MAIN, { seq: COUNT, hash: prev });
        },
        { key: KEY, hasher: undefined },
        () => keyed,
      );
      expectBreak(result, { kind: 'modified', seq: 500, record_id: idAt(500) });
    });

    it('whereas a chain without a key rewritten that way passes, unless checked against a checkpoint', async () => {
      const rewrite = (t: Table) => {
        t.at(500).record.details = { amount: 0 };
        let prev = t.at(499).hash!;
        for (const row of t.from(500)) {
          row.prevHash = prev;
          row.hash = prev = node().hash(chainDocumentOf(row));
        }
        t.heads.set(MAIN, { seq: COUNT, hash: prev });
      };
      expect((await tampered(rewrite)).ok).toBe(true);
      const checkpoint = await createCheckpoint(plain.store(), { key: SIGNING_KEY, hasher: node() });
      expectBreak(await tampered(rewrite, { checkpoint, checkpointKey: SIGNING_KEY }), { kind: 'truncated', seq: COUNT, record_id: idAt(COUNT) });
    });
  });

  describe('options', () => {
    it('acceptPrunedStart accepts a chain whose oldest records retention removed', async () => {
      const prune = (t: Table) => {
        t.rows = t.rows.filter((r) => !(r.record.account_id === MAIN && r.seq! <= 100));
      };
      expectBreak(await tampered(prune), { kind: 'deleted', seq: 1, record_id: idAt(101) });
      const result = await tampered(prune, { acceptPrunedStart: true, account: MAIN });
      expect(result).toMatchObject({ ok: true, accounts: [{ account: MAIN, first_seq: 101, seq: COUNT, count: COUNT - 100 }] });
    });

    it('acceptUnchainedBefore accepts rows stored before chaining was on, and no later ones', async () => {
      const legacy = (created: string) => (t: Table) =>
        t.rows.push({ record: { ...makeRecord(0, MAIN), id: 'aud_legacy', created }, seq: null, prevHash: null, hash: null });
      const cutoff = '2026-01-01T00:00:00.000Z';
      expect((await tampered(legacy('2025-06-01T00:00:00.000Z'), { acceptUnchainedBefore: cutoff })).ok).toBe(true);
      expectBreak(await tampered(legacy('2026-06-01T00:00:00.000Z'), { acceptUnchainedBefore: cutoff }), {
        kind: 'inserted',
        seq: null,
        record_id: 'aud_legacy',
      });
      expectBreak(await tampered(legacy('2025-06-01T00:00:00.000Z')), { kind: 'inserted', seq: null, record_id: 'aud_legacy' });
    });

    it('refuses a store without a chain, and bad options, with TypeErrors', async () => {
      const bare = memoryStore({ chain: false });
      await expect(verify(bare)).rejects.toThrow(/the store keeps no hash chain/);
      const store = plain.store();
      await expect(verify(store, { pageSize: 1 })).rejects.toThrow(/pageSize/);
      await expect(verify(store, { key: KEY, hasher: node() })).rejects.toThrow(/key or hasher/);
      await expect(verify(store, { acceptUnchainedBefore: 'yesterday' })).rejects.toThrow(/acceptUnchainedBefore/);
      await expect(verify(store, { checkpoint: {} as Checkpoint })).rejects.toThrow(/checkpointKey/);
    });
  });
});

describe('checkpoints', () => {
  it('are signed JSON of the verified heads', async () => {
    const checkpoint = await createCheckpoint(plain.store(), { key: SIGNING_KEY, hasher: node() });
    expect(checkpoint).toMatchObject({
      format: 'audit-trail-checkpoint/v1',
      account_scope: null,
      keyed: false,
      heads: [
        { account: null, seq: 50, count: 50 },
        { account: MAIN, seq: COUNT, hash: plain.heads.get(MAIN)!.hash, count: COUNT },
        { account: 'acc_small', seq: 100, count: 100 },
      ],
    });
    expect(checkpoint.signature).toMatch(/^[0-9a-f]{64}$/);
    const reread = JSON.parse(JSON.stringify(checkpoint)) as unknown;
    await expect(checkCheckpoint(reread, SIGNING_KEY)).resolves.toEqual(checkpoint);
    const one = await createCheckpoint(plain.store(), { key: SIGNING_KEY, hasher: node(), account: 'acc_small' });
    expect(one).toMatchObject({ account_scope: { account: 'acc_small' }, heads: [{ account: 'acc_small', seq: 100 }] });
  });

  it('are rejected when altered, signed with another key, or malformed', async () => {
    const checkpoint = await createCheckpoint(plain.store(), { key: SIGNING_KEY, hasher: node(), account: MAIN });
    const altered = structuredClone(checkpoint);
    altered.heads[0]!.seq = 9000;
    altered.heads[0]!.hash = plain.at(9000).hash!;
    const refusal = await verify(plain.store(), { hasher: node(), checkpoint: altered, checkpointKey: SIGNING_KEY }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(CheckpointError);
    expect(refusal).toMatchObject({ code: 'bad_signature' });
    await expect(checkCheckpoint(checkpoint, 'another-signing-key-of-32-bytes!')).rejects.toMatchObject({ code: 'bad_signature' });
    for (const bad of [null, [], { ...checkpoint, format: 'v0' }, { ...checkpoint, heads: [{ account: MAIN, seq: 0, hash: 'x', count: 1 }] }]) {
      await expect(checkCheckpoint(bad, SIGNING_KEY)).rejects.toMatchObject({ code: 'malformed' });
    }
  });

  it('are not made of a broken chain', async () => {
    const table = plain.clone();
    table.at(42).record.app_id = 'app_forged';
    const failure = await createCheckpoint(table.store(), { key: SIGNING_KEY, hasher: node() }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'chain_broken', break: { kind: 'modified', seq: 42 } });
    expect((failure as Error).message).toMatch(/modified at #42/);
  });

  it('need a signing key of 16 bytes or more', async () => {
    await expect(createCheckpoint(plain.store(), { key: 'short' })).rejects.toThrow(/key must be at least 16 bytes/);
  });
});

describe('the memory store chains', () => {
  it('every account in append order, one chain also for records without an account', async () => {
    const store = memoryStore();
    const records = [makeRecord(3, 'a'), makeRecord(1, 'b'), makeRecord(2, 'a'), makeRecord(4, null)];
    await store.append(records);
    const a = await store.scanChain!('a', null, 10);
    expect(a.map((l) => [l.seq, l.record.id])).toEqual([
      [1, records[0]!.id],
      [2, records[2]!.id],
    ]);
    expect(a[1]!.prevHash).toBe(a[0]!.hash);
    expect(await store.chainHeads!()).toEqual([
      { accountId: null, seq: 1, hash: expect.any(String) },
      { accountId: 'a', seq: 2, hash: a[1]!.hash },
      { accountId: 'b', seq: 1, hash: expect.any(String) },
    ]);
    expect((await store.scanChain!('a', 1, 10)).map((l) => l.seq)).toEqual([2]);
  });

  it('keeps one valid chain under concurrent appends, and a retried batch takes no position', async () => {
    const store = memoryStore({ chain: { key: KEY } });
    const batches = Array.from({ length: 20 }, (_, b) => Array.from({ length: 50 }, (_, i) => makeRecord(b * 50 + i + 1, MAIN)));
    await Promise.all(batches.map((batch) => store.append(batch)));
    await Promise.all([store.append(batches[3]!), store.append(batches[7]!)]);
    expect(await store.chainHeads!(MAIN)).toMatchObject([{ seq: 1000 }]);
    expect(await verify(store, { key: KEY })).toMatchObject({ ok: true, verified: 1000 });
  });

  it('hashes when read, the same hashes, and keeps a pruned chain under maxRecordsPerAccount', async () => {
    const store = memoryStore({ maxRecordsPerAccount: 100 });
    // 3000 records in time order: each drop removes the front of the chain; over 1000 drops start hashing in the background.
    for (let i = 0; i < 30; i++) await store.append(Array.from({ length: 100 }, (_, j) => makeRecord(i * 100 + j + 1, MAIN)));
    expect(await verify(store)).toMatchObject({ ok: false, kind: 'deleted', seq: 1, record_id: makeRecord(2901, MAIN).id });
    const result = await verify(store, { acceptPrunedStart: true, hasher: node() });
    expect(result).toMatchObject({ ok: true, accounts: [{ account: MAIN, first_seq: 2901, seq: 3000, count: 100 }] });
    const all = Array.from({ length: 3000 }, (_, i) => makeRecord(i + 1, MAIN));
    expect(result.ok && result.accounts[0]!.hash).toBe(linkRecordsSync(null, all, node()).at(-1)!.hash);
  });

  it('is verified while records keep arriving', async () => {
    const store = memoryStore();
    await store.append(Array.from({ length: 3000 }, (_, i) => makeRecord(i + 1, MAIN)));
    let next = 5000;
    const result = await verify(store, {
      pageSize: 500,
      onProgress: () => void store.append([makeRecord(next++, MAIN), makeRecord(next++, 'acc_new')]),
    });
    expect(result.ok).toBe(true);
  });

  it('returns records as they were appended: chaining changes no wire field', async () => {
    const store = memoryStore();
    const record = makeRecord(1, MAIN);
    await store.append([record]);
    expect(await store.get(MAIN, record.id)).toStrictEqual(record);
    expect(Object.keys((await store.query({ accountId: MAIN, filter: {}, order: 'asc', limit: 1 }))[0]!).sort()).toEqual(Object.keys(record).sort());
  });
});

/** The chain document of a row, through the same function the stores use, with its current link. */
function chainDocumentOf(row: Row): string {
  let text = '';
  void hashRecord({ keyed: false, hash: (t) => (text = t) }, row.record, row.seq!, row.prevHash!);
  return text;
}
