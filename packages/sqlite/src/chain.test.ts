import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { verify, type Store } from '@audit-trail/core';
import { webCryptoHasher, linkRecords } from '@audit-trail/core/store';
import { sampleRecord } from '@audit-trail/store-conformance';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { nodeChainHasher, sqliteStore } from './index.ts';
import { CHAIN_OBJECTS } from './schema.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-trail-sqlite-chain-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const KEY = 'sqlite-chain-key-for-the-tests!!';

const opened: Array<Store | Database.Database> = [];
afterEach(async () => {
  for (const handle of opened.splice(0)) await handle.close();
});
const freshFile = () => path.join(dir, `${crypto.randomUUID()}.db`);
const open = (options: Parameters<typeof sqliteStore>[0]): Store => {
  const store = sqliteStore(options);
  opened.push(store);
  return store;
};

/** Runs `count` batches of appends from a separate Node process. */
function writerProcess(file: string, writer: number, batches: number, writers: number): Promise<void> {
  const script = `
    const fs = await import('node:fs');
    const { sqliteStore } = await import(${JSON.stringify(path.join(ROOT, 'packages/sqlite/src/index.ts'))});
    const { sampleRecord } = await import(${JSON.stringify(path.join(ROOT, 'packages/store-conformance/src/index.ts'))});
    const store = sqliteStore({ database: ${JSON.stringify(file)}, busyTimeout: 20000 });
    // A barrier: every writer starts appending only once all are up, so that they really overlap.
    fs.writeFileSync(${JSON.stringify(file)} + '.ready-${writer}', '');
    while (Array.from({ length: ${writers} }, (_, w) => fs.existsSync(${JSON.stringify(file)} + '.ready-' + w)).includes(false)) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (let b = 0; b < ${batches}; b++) {
      const batch = [];
      for (let i = 0; i < 25; i++) {
        const account = ['acc_a', 'acc_b', null][(b + i) % 3];
        batch.push(sampleRecord({ account_id: account, details: { writer: ${writer}, batch: b, i } }));
      }
      await store.append(batch);
      // A pause between batches: SQLite's busy handler backs off, so without one a writer that holds the
      // lock takes it again at once and the others wait it out (on a loaded machine the chain barely switched).
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await store.close();
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer ${writer} exited with ${code}: ${stderr}`))));
  });
}

describe('the SQLite chain', () => {
  it('stays one valid chain per account with three processes appending to one file at once', async () => {
    const file = freshFile();
    open({ database: file }); // migrated before the writers race
    await Promise.all([0, 1, 2].map((writer) => writerProcess(file, writer, 40, 3)));
    const store = open({ database: file });
    const result = await verify(store, { hasher: nodeChainHasher() });
    expect(result).toMatchObject({ ok: true, verified: 3 * 40 * 25 });
    if (!result.ok) return;
    const perWriter = [0, 0, 0];
    for (let b = 0; b < 40; b++) for (let i = 0; i < 25; i++) perWriter[(b + i) % 3]!++;
    expect(result.accounts.map((a) => [a.account, a.count])).toEqual([
      [null, 3 * perWriter[2]!],
      ['acc_a', 3 * perWriter[0]!],
      ['acc_b', 3 * perWriter[1]!],
    ]);
    // The writers really did interleave: the chain switches between them many times.
    const writers = (await store.scanChain!('acc_a', null, 5000)).map((l) => (l.record.details as { writer: number }).writer);
    const switches = writers.filter((w, i) => i > 0 && w !== writers[i - 1]).length;
    expect(switches).toBeGreaterThan(5);
  }, 60_000);

  it('stays whole with two store instances on one file, appending interleaved and retrying', async () => {
    const file = freshFile();
    const [one, two] = [open({ database: file }), open({ database: file })];
    const account = `acc_${crypto.randomUUID()}`;
    const batches = Array.from({ length: 20 }, (_, b) => Array.from({ length: 10 }, (_, i) => sampleRecord({ account_id: account, details: { b, i } })));
    await Promise.all(batches.flatMap((batch, b) => [(b % 2 ? one : two).append(batch), (b % 3 ? two : one).append(batch)]));
    expect(await one.chainHeads!(account)).toMatchObject([{ seq: 200 }]);
    expect(await verify(two, { account })).toMatchObject({ ok: true, verified: 200 });
  });

  it('hashes as core does, with Web Crypto, keyed or not', async () => {
    const file = freshFile();
    const account = `acc_${crypto.randomUUID()}`;
    const records = Array.from({ length: 5 }, () => sampleRecord({ account_id: account, details: { 'ключ': 'значение', n: 1.5 } }));
    for (const key of [undefined, KEY]) {
      const store = open({ database: file, ...(key ? { chain: { key } } : {}) });
      const own = records.map((r) => ({ ...r, id: `${r.id}_${key ? 'k' : 'p'}`, account_id: `${account}_${key ? 'k' : 'p'}` }));
      await store.append(own);
      const stored = await store.scanChain!(own[0]!.account_id, null, 10);
      const expected = await linkRecords(null, own, webCryptoHasher(key));
      expect(stored.map((l) => l.hash)).toEqual(expected.map((l) => l.hash));
    }
  });

  it('verifies records whose text SQLite stored differently: lone surrogates become U+FFFD, as in the canonical form', async () => {
    const store = open({ database: freshFile() });
    const record = sampleRecord({ account_id: 'acc_text', resource_id: 'pay_\ud800x', user: { email: '\udc00@example.com' }, details: { ['k\ud83d']: 'v\ude00' } });
    await store.append([record]);
    const [stored] = await store.scanChain!('acc_text', null, 1);
    expect(stored!.record.resource_id).toBe('pay_\ufffdx');
    expect((await verify(store, { account: 'acc_text' })).ok).toBe(true);
  });

  it('refuses a second record at a position: the unique index stops a fork even behind the store', async () => {
    const file = freshFile();
    const store = open({ database: file });
    await store.append([sampleRecord({ account_id: 'acc_x' }), sampleRecord({ account_id: null })]);
    const db = new Database(file);
    opened.push(db);
    const forge = db.prepare(
      `INSERT INTO audit_records (id, account_id, created, action_type, resource, user_id, outcome, details, chain_seq, prev_hash, hash)
       VALUES (?, ?, '2026-01-01T00:00:00.000Z', 'refund', 'payment', 'usr_x', 'success', '{}', 1, 'x', 'y')`,
    );
    expect(() => forge.run('aud_fork', 'acc_x')).toThrow(/UNIQUE constraint failed/);
    expect(() => forge.run('aud_fork_null', null)).toThrow(/UNIQUE constraint failed/);
  });

  it('continues from the newest link when the head row was deleted by hand', async () => {
    const file = freshFile();
    const store = open({ database: file });
    await store.append([sampleRecord({ account_id: 'acc_y' }), sampleRecord({ account_id: 'acc_y' })]);
    const db = new Database(file);
    opened.push(db);
    db.prepare(`DELETE FROM ${CHAIN_OBJECTS.headsTable}`).run();
    await store.append([sampleRecord({ account_id: 'acc_y' })]);
    expect(await store.chainHeads!('acc_y')).toMatchObject([{ seq: 3 }]);
    expect((await verify(store, { account: 'acc_y' })).ok).toBe(true);
  });

  it('reads the chain along the unique index, and lists accounts without scanning the table', async () => {
    const file = freshFile();
    await (open({ database: file }) as ReturnType<typeof sqliteStore>).ready;
    const db = new Database(file);
    opened.push(db);
    const plan = (sql: string, ...parameters: unknown[]) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...parameters) as Array<{ detail: string }>).map((r) => r.detail).join('\n');
    const scan = `SELECT * FROM audit_records INDEXED BY ${CHAIN_OBJECTS.chainIndex} WHERE account_id IS ? AND chain_seq > ? ORDER BY chain_seq LIMIT ?`;
    expect(plan(scan, 'acc', 0, 10)).toMatch(new RegExp(`SEARCH audit_records USING INDEX ${CHAIN_OBJECTS.chainIndex} \\(account_id=\\? AND chain_seq>\\?\\)`));
    expect(plan(scan, 'acc', 0, 10)).not.toMatch(/TEMP B-TREE/);
    expect(plan(`SELECT seq, hash FROM ${CHAIN_OBJECTS.headsTable} WHERE account_id IS ?`, null)).toMatch(/USING INDEX/);
  });
});
