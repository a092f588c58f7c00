import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'audit-trail-restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

interface Running {
  url: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts an example's real server the way its `start` script does
 * (`node --import tsx src/server.ts`: one process, so signals reach the server itself) and waits for /healthz.
 */
async function startServer(example: string, store: string): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: join(root, 'examples', example),
    env: { ...process.env, PORT: String(port), AUDIT_STORE: store, AUDIT_CURSOR_SECRET: 'restart-test-secret-0123456789' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${out}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, child, output: () => out, exited };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`server did not start:\n${out}`);
}

const alice = { authorization: 'Bearer demo-alice', 'content-type': 'application/json' };

async function createdPaymentIds(url: string, appId: string): Promise<string[]> {
  const ids: string[] = [];
  let next: string | null = `${url}/audit?app_id=${appId}&action_type=create_payment&limit=500`;
  while (next) {
    const res = await fetch(next, { headers: alice });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { resource_id: string; outcome: string }[]; next_cursor: string | null };
    ids.push(...body.data.filter((r) => r.outcome === 'success').map((r) => r.resource_id));
    next = body.next_cursor ? `${url}/audit?app_id=${appId}&action_type=create_payment&limit=500&cursor=${body.next_cursor}` : null;
  }
  return ids;
}

const stores = [
  { name: 'sqlite', spec: (example: string) => `sqlite:${join(dir, `${example}.db`)}` },
  { name: 'postgres', spec: () => inject('databaseUrl') },
];

describe.each(['express', 'hono', 'fastify'])('the %s example as a process', (example) => {
  it.each(stores)('keeps its records across a restart on $name, and a SIGTERM under load leaves no answered request unrecorded', async (kind) => {
    const spec = kind.spec(example);
    const appId = `app_restart_${example}_${Date.now().toString(36)}`;
    const first = await startServer(example, spec);

    // Load: batches of concurrent creates; SIGTERM arrives while requests are in flight.
    const answered: string[] = [];
    let refused = 0;
    const fire = async () => {
      try {
        const res = await fetch(`${first.url}/payments`, {
          method: 'POST',
          headers: { ...alice, 'app-id': appId },
          body: JSON.stringify({ amount: 100, currency: 'EUR' }),
        });
        if (res.status === 201) answered.push(((await res.json()) as { id: string }).id);
      } catch {
        refused++; // the server stopped accepting connections
      }
    };
    const load = (async () => {
      for (let round = 0; round < 40; round++) await Promise.all(Array.from({ length: 10 }, fire));
    })();
    // The signal comes once some requests were answered (not after a fixed time: a loaded machine may answer none in 150 ms).
    let loadDone = false;
    void load.then(() => (loadDone = true));
    while (answered.length < 10 && !loadDone) await new Promise((r) => setTimeout(r, 10));
    const beforeSignal = answered.length;
    first.child.kill('SIGTERM');
    await load;
    const code = await first.exited;
    expect(code, first.output()).toBe(0);
    expect(beforeSignal).toBeGreaterThan(0);
    expect(answered.length).toBeGreaterThanOrEqual(beforeSignal);

    const second = await startServer(example, spec);
    try {
      const recorded = await createdPaymentIds(second.url, appId);
      expect(new Set(recorded).size).toBe(recorded.length);
      // Every request the client got a 201 for has its record, after the restart.
      expect(recorded.sort()).toEqual([...answered].sort());
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  }, 60_000);
});
