import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sqliteStore } from '@audit-trail/sqlite';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { expressExample, honoExample } from './support/apps.ts';

// Another process holds the SQLite file's write lock while the example app
// serves audited requests. The store's writes wait in its worker thread, so
// every response arrives while the lock is still held (the lock is released
// only after the last response, by the test); once it is released, every
// record is written. Nothing here measures time.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-trail-locked-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** A child process that takes the file's write lock (BEGIN EXCLUSIVE) and holds it until told `release` on stdin. */
async function lockFile(file: string): Promise<{ release(): Promise<void>; child: ChildProcess }> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(${JSON.stringify(file)});
    db.exec('BEGIN EXCLUSIVE');
    process.stdout.write('locked\\n');
    process.stdin.on('data', () => { db.exec('COMMIT'); db.close(); process.stdout.write('released\\n'); process.exit(0); });
  `;
  const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const saw = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => out.includes(word) && resolve();
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        check();
      });
      child.once('exit', (code) => (out.includes(word) ? resolve() : reject(new Error(`the locking process exited with ${code}`))));
      check();
    });
  await saw('locked');
  return {
    child,
    async release() {
      child.stdin!.write('release\n');
      await saw('released');
    },
  };
}

describe.each([expressExample, honoExample])('$name example on SQLite, with the file locked by another process', (example) => {
  it('keeps answering every request while the lock is held, and writes every record once it is released', async () => {
    const file = path.join(dir, `${example.name}.db`);
    // A wait for the lock longer than the test holds it: the writes wait instead of failing.
    const store = sqliteStore({ database: file, busyTimeout: 60_000 });
    await store.ready;
    const server = await example.start({ store });
    const lock = await lockFile(file);
    let released = false;
    try {
      const auth = { authorization: 'Bearer demo-alice', 'content-type': 'application/json' };
      const created: string[] = [];
      for (let round = 0; round < 10; round++) {
        const answers = await Promise.all([
          fetch(`${server.url}/healthz`),
          ...Array.from({ length: 5 }, (_, i) =>
            fetch(`${server.url}/payments`, { method: 'POST', headers: auth, body: JSON.stringify({ amount: 100 + round * 5 + i, currency: 'EUR' }) }),
          ),
        ]);
        expect(answers.map((a) => a.status)).toEqual([200, 201, 201, 201, 201, 201]);
        for (const answer of answers.slice(1)) created.push(((await answer.json()) as { id: string }).id);
        await answers[0]!.arrayBuffer();
      }
      // Every response above arrived with the lock held: no record could have been written yet.
      const peek = new Database(file, { readonly: true });
      expect((peek.prepare("SELECT count(*) AS n FROM audit_records WHERE action_type = 'create_payment'").get() as { n: number }).n).toBe(0);
      peek.close();
      expect(lock.child.exitCode).toBeNull();

      await lock.release();
      released = true;
      await server.auditor.flush();
      const check = new Database(file, { readonly: true });
      const stored = check.prepare("SELECT resource_id FROM audit_records WHERE action_type = 'create_payment'").all() as Array<{ resource_id: string }>;
      check.close();
      expect(stored.map((r) => r.resource_id).sort()).toEqual([...created].sort());
      expect(server.errors).toEqual([]);
    } finally {
      if (!released) await lock.release().catch(() => lock.child.kill());
      await server.close();
    }
  });
});
