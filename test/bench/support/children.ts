import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServerConfig, ServerReply, ServerRequest } from '../server/protocol.ts';

const SERVER_MAIN = fileURLToPath(new URL('../server/main.ts', import.meta.url));

/** Every child this process started and has not seen exit: killed by `killAllChildren` on the way out. */
const running = new Set<ChildProcess>();

/** A contender's server, running in a child process of its own. */
export interface ServerChild {
  readonly config: ServerConfig;
  readonly url: string;
  readonly pid: number;
  /** Sends a request over IPC and resolves with the child's reply. */
  request<T extends ServerRequest['type']>(type: T, timeoutMs?: number): Promise<Extract<ServerReply, { type: T }>>;
  /** Asks the child to close its server and auditor and exit; kills it if it has not within 15 s. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra `node` flags, e.g. `--cpu-prof`. */
  nodeFlags?: readonly string[];
}

/**
 * Starts a contender's server in a child process (its own event loop, so the
 * load generator in this process does not share one with it) and resolves
 * once it listens on 127.0.0.1.
 */
export function startServer(config: ServerConfig, options: StartOptions = {}): Promise<ServerChild> {
  const child = fork(SERVER_MAIN, [], {
    env: { ...process.env, BENCH_SERVER: JSON.stringify(config) },
    // The tsx loader this process runs under, and gc() for the memory scenario's measurements.
    execArgv: [...process.execArgv, '--expose-gc', ...(options.nodeFlags ?? [])],
    // The report goes to stdout; whatever a server prints goes to stderr.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  running.add(child);
  // Not pipe(): a dozen children piped into one stream trip its listener-leak warning.
  const forward = (chunk: Buffer) => process.stderr.write(chunk);
  child.stdout?.on('data', forward);
  child.stderr?.on('data', forward);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      resolve();
    }),
  );

  let nextId = 1;
  const pending = new Map<number, { resolve: (reply: ServerReply) => void; reject: (error: Error) => void }>();
  const failAll = (error: Error) => {
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
  };
  child.on('message', (message: ServerReply & { id: number }) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.type === 'error') waiter.reject(new Error(`${config.contender}: ${message.message}`));
    else waiter.resolve(message);
  });
  void exit.then(() => failAll(new Error(`${config.contender}: the server process exited`)));

  const request = <T extends ServerRequest['type']>(type: T, timeoutMs = 60_000) =>
    new Promise<Extract<ServerReply, { type: T }>>((resolve, reject) => {
      if (exited) return reject(new Error(`${config.contender}: the server process has exited`));
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${config.contender}: no reply to ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply as Extract<ServerReply, { type: T }>);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      child.send({ id, type } satisfies ServerRequest & { id: number });
    });

  const stop = async () => {
    if (exited) return;
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    try {
      await request('stop', 15_000).catch(() => child.kill('SIGKILL'));
      await exit;
    } finally {
      clearTimeout(kill);
    }
  };

  return new Promise<ServerChild>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${config.contender}: the server exited with ${code} before listening`));
    child.once('exit', onExit);
    const onMessage = (message: { type?: string; port?: number; message?: string }) => {
      if (message.type === 'listening') {
        child.off('exit', onExit);
        child.off('message', onMessage);
        resolve({ config, url: `http://127.0.0.1:${message.port}`, pid: child.pid!, request, stop });
      } else if (message.type === 'failed') {
        child.off('message', onMessage);
        child.off('exit', onExit);
        reject(new Error(`${config.contender}: ${message.message}`));
        void exit;
      }
    };
    child.on('message', onMessage);
  });
}

/** Kills every child still running (by its own pid); for exits on a signal or an error. */
export function killAllChildren(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Starts several servers; if one fails, stops those that started. */
export async function startServers(configs: readonly ServerConfig[], options?: StartOptions): Promise<ServerChild[]> {
  const results = await Promise.allSettled(configs.map((config) => startServer(config, options)));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failure) {
    await Promise.all(started.map((s) => s.stop()));
    throw failure.reason;
  }
  return started;
}
