import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditError, createAuditor, type AuditRecord } from '@audit-trail/core';
import { sampleRecord } from '@audit-trail/store-conformance';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sqliteStore, type SqliteStore } from './index.ts';
import { THREADS } from './sqlite-store.ts';
import type { WorkerClient } from './worker-client.ts';

// What the store does when its worker thread or its file fails. Every case
// ends in a rejected call or an `onError` report, never in an unhandled
// rejection (vitest fails a run that has one) or a `close()` that hangs.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-trail-sqlite-thread-'));
const mounts: string[] = [];
afterAll(() => {
  for (const mount of mounts) execFileSync('umount', ['-l', mount]);
  fs.rmSync(dir, { recursive: true, force: true });
});
const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const handle of opened.splice(0)) await handle.close();
});
const freshFile = () => path.join(dir, `${crypto.randomUUID()}.db`);
const open = (options: Parameters<typeof sqliteStore>[0]): SqliteStore => {
  const store = sqliteStore(options);
  opened.push(store);
  return store;
};
const threadsOf = (store: SqliteStore) => (store as unknown as { [THREADS]: { writer: WorkerClient; reader: WorkerClient } })[THREADS];
const records = (n: number, account = `acc_${crypto.randomUUID()}`): AuditRecord[] => Array.from({ length: n }, () => sampleRecord({ account_id: account }));
const failureOf = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => null, (error: unknown) => error);
const stored = (file: string, batch: readonly AuditRecord[]): number => {
  const db = new Database(file, { readonly: true });
  try {
    const ids = JSON.stringify(batch.map((r) => r.id));
    return (db.prepare('SELECT count(*) AS n FROM audit_records WHERE id IN (SELECT value FROM json_each(?))').get(ids) as { n: number }).n;
  } finally {
    db.close();
  }
};

/** A tmpfs of its own (the tests run as root in CI): a disk that can be made full or read-only. */
function smallDisk(size: string): string {
  const mount = path.join(dir, `disk-${crypto.randomUUID()}`);
  fs.mkdirSync(mount);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mount]);
  } catch (error) {
    throw new Error('these tests mount a small tmpfs to fill or freeze a disk; run them as root', { cause: error });
  }
  mounts.push(mount);
  return mount;
}

describe('the SQLite store in a worker thread', () => {
  it('rejects what waited when the thread exits, tells onError, and starts a new thread at the next call', async () => {
    const file = freshFile();
    const store = open({ database: file });
    await store.ready;
    const { writer } = threadsOf(store);
    const first = writer.thread!;
    const errors: AuditError[] = [];
    const auditor = createAuditor({ store, onError: (error) => errors.push(error), retry: false });

    // The thread dies with a batch in flight.
    first.postMessage({ id: 0, op: 'test:exit', args: [] });
    const inFlight = failureOf(store.append(records(5)));
    const crashed = failureOf(auditor.recordDurable({ action_type: 'refund', user: { id: 'usr_a' }, account_id: 'acc_a' }));
    for (const failure of [await inFlight, await crashed]) {
      expect(failure).toBeInstanceOf(AuditError);
      expect((failure as AuditError).code).toBe('store_failed');
    }
    expect(errors.some((e) => e.code === 'store_failed' && /worker thread stopped/.test(e.message))).toBe(true);

    // The next call runs on a new thread, and is stored.
    const after = records(3);
    await store.append(after);
    expect(writer.thread).not.toBe(first);
    expect(stored(file, after)).toBe(3);
  });

  it('survives an error thrown in the thread outside any request', async () => {
    const file = freshFile();
    const store = open({ database: file });
    await store.ready;
    const { writer } = threadsOf(store);
    const first = writer.thread!;
    const waiting = failureOf(new Promise((resolve, reject) => {
      // Posted after the throw: it waits until the thread is gone.
      writer.thread!.postMessage({ id: 0, op: 'test:throw', args: [] });
      setTimeout(() => store.append(records(1)).then(resolve, reject), 0);
    }));
    const failure = await waiting;
    // Either the batch was written before the throw, or it failed with the thread: never lost silently.
    if (failure !== null) expect((failure as AuditError).code).toBe('store_failed');
    // A call made before the main thread hears of the death fails too; once it has, calls go to a new thread.
    for (let i = 0; i < 100 && writer.thread === first; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(writer.thread).not.toBe(first);
    const later = records(2);
    await store.append(later);
    expect(stored(file, later)).toBe(2);
  });

  it('rejects what waited when the thread is terminated, and recovers', async () => {
    const file = freshFile();
    const store = open({ database: file });
    await store.ready;
    const { writer, reader } = threadsOf(store);
    await store.query({ accountId: 'acc', filter: {}, order: 'desc', limit: 1 });
    const pending = failureOf(store.append(records(10)));
    await Promise.all([writer.thread!.terminate(), reader.thread!.terminate()]);
    const failure = await pending;
    // A batch already committed resolves; otherwise it is told.
    if (failure !== null) expect((failure as AuditError).code).toBe('store_failed');
    const later = records(4);
    await store.append(later);
    expect(await store.get(later[0]!.account_id!, later[0]!.id)).toStrictEqual(later[0]);
  });

  it('reads while another process holds the write lock, and closes in bounded time with a write stuck behind it', async () => {
    const file = freshFile();
    const store = open({ database: file, busyTimeout: 2000 });
    const before = records(3);
    await store.append(before);
    const locker = new Database(file);
    locker.exec('BEGIN EXCLUSIVE');
    try {
      const stuck = failureOf(store.append(records(2)));
      // The reader's connection is not behind the writer: WAL readers do not need the write lock.
      expect(await store.get(before[0]!.account_id!, before[0]!.id)).toStrictEqual(before[0]);
      await store.close();
      const failure = await stuck;
      expect(failure).toBeInstanceOf(Error);
      expect(String((failure as Error).message)).toMatch(/locked|busy|closed|stopped/i);
    } finally {
      locker.exec('ROLLBACK');
      locker.close();
    }
  });

  it('refuses calls beyond its bound of waiting requests instead of queueing without end', async () => {
    const file = freshFile();
    const store = open({ database: file, busyTimeout: 60_000 });
    await store.ready;
    const locker = new Database(file);
    locker.exec('BEGIN EXCLUSIVE');
    const waiting = Array.from({ length: 10_000 }, () => failureOf(store.append(records(1, 'acc_bound'))));
    const refused = await failureOf(store.append(records(1, 'acc_bound')));
    expect(refused).toBeInstanceOf(AuditError);
    expect((refused as AuditError).message).toMatch(/10000 requests are already waiting/);
    locker.exec('ROLLBACK');
    locker.close();
    expect((await Promise.all(waiting)).filter((f) => f !== null)).toEqual([]);
  }, 120_000);

  it('reports a full disk through onError, keeps the rest, and closes', async () => {
    const disk = smallDisk('512k');
    const file = path.join(disk, 'audit.db');
    const store = open({ database: file });
    const errors: AuditError[] = [];
    const auditor = createAuditor({ store, onError: (error) => errors.push(error), retry: false });
    await store.ready;
    let accepted = 0;
    for (let i = 0; i < 400 && errors.length === 0; i++) {
      auditor.record({ action_type: 'refund', user: { id: 'usr_a' }, account_id: 'acc_full', details: { pad: 'x'.repeat(2000), i } });
      accepted++;
      if (i % 20 === 0) await auditor.flush();
    }
    await auditor.flush();
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.code).toBe('store_failed');
    expect(errors[0]!.message).toMatch(/full|disk/i);
    const stats = auditor.stats();
    expect(stats.written + stats.failed).toBe(accepted);
    expect(stats.written).toBeGreaterThan(0);
    await auditor.close();
  });

  it('reports a read-only file through onError, and writes once it is writable again', async () => {
    const disk = smallDisk('4m');
    const file = path.join(disk, 'audit.db');
    await open({ database: file }).close();
    // A mount cannot turn read-only under open files, so the file is read-only before the store opens it.
    execFileSync('mount', ['-o', 'remount,ro', disk]);
    const store = open({ database: file });
    const errors: AuditError[] = [];
    const auditor = createAuditor({ store, onError: (error) => errors.push(error), retry: false });
    try {
      const failure = await failureOf(store.ready);
      expect(failure).toBeInstanceOf(AuditError);
      expect((failure as AuditError).message).toMatch(/read-?only|unable to open/i);
      await failureOf(auditor.recordDurable({ action_type: 'refund', user: { id: 'usr_a' }, account_id: 'acc_ro' }));
      expect(errors.map((e) => e.code)).toContain('store_failed');
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', disk]);
    }
    // Restarts are spaced out after repeated failures; within a few seconds the thread opens the file.
    const later = records(2);
    let written = false;
    for (let attempt = 0; attempt < 50 && !written; attempt++) {
      written = (await failureOf(store.append(later))) === null;
      if (!written) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(written).toBe(true);
    expect(stored(file, later)).toBe(2);
  });

  it('rejects ready and the calls for a file it cannot open, without an unhandled rejection', async () => {
    const store = open({ database: path.join(dir, 'no-such-dir', 'audit.db') });
    const failure = await failureOf(store.ready);
    expect(failure).toBeInstanceOf(AuditError);
    expect((failure as AuditError).code).toBe('store_failed');
    expect((failure as AuditError).message).toMatch(/could not open the database/);
    await expect(store.append(records(1))).rejects.toThrow(AuditError);
    await expect(store.query({ accountId: 'a', filter: {}, order: 'desc', limit: 1 })).rejects.toThrow(AuditError);
    // An unobserved failure of a store never used is no unhandled rejection either.
    sqliteStore({ database: path.join(dir, 'no-such-dir', 'other.db') });
    await new Promise((resolve) => setTimeout(resolve, 500));
  });
});
