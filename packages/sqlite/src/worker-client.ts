import { AUDIT_ERROR_CODES, AuditError, type AuditErrorCode } from '@audit-trail/core';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** What a worker thread is told to host (its `workerData`). */
export type WorkerTask = { kind: 'store'; config: unknown } | { kind: 'spool'; config: unknown };

/** A request to the worker: one operation of the hosted engine. */
export interface WorkerRequest {
  id: number;
  op: string;
  args: unknown[];
}

/** An error as it crosses the thread boundary. */
export interface WireError {
  name: string;
  message: string;
  /** A driver's code (`SQLITE_BUSY`, …) or an `AuditError` code. */
  code?: string;
  audit?: boolean;
}

/** Everything the worker posts: its start, or the answer to a request. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'failed'; error: WireError }
  | { type: 'reply'; id: number; value: unknown }
  | { type: 'error'; id: number; error: WireError };

/** An error made fit to post: its name, message and code survive; the stack stays in the thread. */
export function wireError(error: unknown): WireError {
  if (error instanceof AuditError) return { name: error.name, message: error.message, code: error.code, audit: true };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(error) };
}

/** The error again, on this side: an `AuditError` stays one, a driver's error keeps its name and code. */
function errorOfWire(wire: WireError): Error {
  if (wire.audit && (AUDIT_ERROR_CODES as readonly string[]).includes(wire.code ?? '')) {
    return new AuditError(wire.code as AuditErrorCode, wire.message);
  }
  const error = new Error(wire.message) as Error & { code?: string };
  error.name = wire.name;
  if (wire.code !== undefined) error.code = wire.code;
  return error;
}

/** How many requests may wait for one thread; beyond, calls fail at once (memory stays bounded). */
const MAX_PENDING = 10_000;
/** Restarts after a failure wait 100 ms, then twice as long each time, up to this. */
const MAX_RESTART_DELAY_MS = 5_000;

const runtime = globalThis as { Bun?: unknown; Deno?: unknown };

/**
 * Starts the worker thread. From the published package (`dist/*.js`) the
 * entry is `worker.js` beside this module. Run from TypeScript sources under
 * Node (the workspace, tests under vitest or tsx), the thread needs a
 * TypeScript loader too: a small bootstrap registers tsx in the thread, then
 * imports `worker.ts`. Bun and Deno run TypeScript themselves.
 */
function startWorker(task: WorkerTask): Worker {
  const here = import.meta.url;
  const fromSource = here.endsWith('.ts');
  const entry = new URL(fromSource ? './worker.ts' : './worker.js', here);
  if (!fromSource || runtime.Bun !== undefined || runtime.Deno !== undefined) return new Worker(entry, { workerData: task });
  let api: string;
  try {
    const tsx = createRequire(here).resolve('tsx/package.json');
    api = pathToFileURL(tsx.replace(/package\.json$/, 'dist/esm/api/index.mjs')).href;
  } catch (error) {
    throw new AuditError('store_failed', 'sqliteStore: running from TypeScript sources, the worker thread needs tsx (or use the built package)', { cause: error });
  }
  const bootstrap = `const { register } = await import(${JSON.stringify(api)}); register(); await import(${JSON.stringify(entry.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), { workerData: task });
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * The main thread's side of one worker thread: requests posted with an id and
 * answered by id, never a synchronous wait. When the thread dies (it crashed,
 * was terminated, or could not open), every waiting request rejects with an
 * `AuditError` `store_failed`, and the next call starts a new thread; after
 * repeated failures no sooner than a growing delay (100 ms up to 5 s), and
 * calls in between fail at once with the last error.
 */
export class WorkerClient {
  private worker: Worker | null = null;
  private starting: Promise<Worker> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failures = 0;
  private retryAt = 0;
  private lastError: Error | null = null;
  private closing = false;

  constructor(
    private readonly task: WorkerTask,
    /** Names the thread in messages: `sqliteStore`, `spooled`. */
    private readonly label: string,
  ) {}

  /** Starts the thread (if it is not running); resolves once its engine is open. */
  start(): Promise<Worker> {
    if (this.worker) return Promise.resolve(this.worker);
    if (this.starting) return this.starting;
    if (this.closing) return Promise.reject(new AuditError('closed', `${this.label}: the store is closed`));
    if (Date.now() < this.retryAt) return Promise.reject(this.failure('the worker thread failed and restarts shortly', this.lastError));
    const starting = new Promise<Worker>((resolve, reject) => {
      let worker: Worker;
      try {
        worker = startWorker(this.task);
      } catch (error) {
        reject(this.failed(error));
        return;
      }
      let up = false;
      let threadError: unknown = null;
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') {
          up = true;
          this.worker = worker;
          if (this.pending.size === 0) worker.unref();
          resolve(worker);
        } else if (message.type === 'failed') {
          threadError = errorOfWire(message.error);
        } else this.settle(message);
      });
      worker.on('error', (error) => {
        threadError = error;
      });
      worker.on('exit', (code) => {
        const cause = threadError ?? new Error(`the worker thread exited with code ${code}`);
        if (this.worker === worker) this.worker = null;
        if (!up) {
          reject(this.failed(cause, 'could not open the database'));
          return;
        }
        if (this.closing && threadError === null) {
          this.rejectAll(new AuditError('closed', `${this.label}: the store is closed`));
          return;
        }
        const error = this.failed(cause, `the worker thread stopped (exit code ${code})`);
        this.rejectAll(error);
      });
    }).finally(() => {
      if (this.starting === starting) this.starting = null;
    });
    // Whoever waits hears of a failure; this keeps an unobserved one from being an unhandled rejection.
    starting.catch(() => undefined);
    return (this.starting = starting);
  }

  /** Posts one request and resolves with the worker's answer. */
  async call(op: string, args: unknown[]): Promise<unknown> {
    if (this.closing) throw new AuditError('closed', `${this.label}: the store is closed`);
    if (this.calls >= MAX_PENDING) {
      throw new AuditError('store_failed', `${this.label}: ${MAX_PENDING} requests are already waiting for the worker thread`);
    }
    this.calls++;
    try {
      const worker = await this.start();
      return await this.post(worker, op, args);
    } finally {
      this.calls--;
    }
  }

  /** Calls made and not yet answered, including those waiting for the thread to start. */
  private calls = 0;

  private post(worker: Worker, op: string, args: unknown[]): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Waiting requests keep the process alive; an idle thread does not.
      if (this.pending.size === 1) worker.ref();
      try {
        worker.postMessage({ id, op, args } satisfies WorkerRequest);
      } catch (error) {
        this.pending.delete(id);
        if (this.pending.size === 0) worker.unref();
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  private settle(message: Extract<WorkerMessage, { type: 'reply' | 'error' }>): void {
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    if (this.pending.size === 0) this.worker?.unref();
    if (message.type === 'reply') {
      this.failures = 0;
      waiting.resolve(message.value);
    } else waiting.reject(errorOfWire(message.error));
    this.idle();
  }

  private rejectAll(error: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const { reject } of waiting) reject(error);
    this.idle();
  }

  private readonly idleListeners: Array<() => void> = [];

  /** Resolves once no request waits. */
  private whenIdle(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleListeners.push(resolve));
  }

  private idle(): void {
    if (this.pending.size > 0) return;
    for (const listener of this.idleListeners.splice(0)) listener();
  }

  private failure(what: string, cause: unknown): AuditError {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return new AuditError('store_failed', `${this.label}: ${what}${detail}`, cause === null || cause === undefined ? {} : { cause });
  }

  /** Counts a failure and sets when the next start may be tried. */
  private failed(cause: unknown, what = 'could not start the worker thread'): AuditError {
    this.failures++;
    this.lastError = cause instanceof Error ? cause : new Error(String(cause));
    this.retryAt = this.failures <= 1 ? 0 : Date.now() + Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (this.failures - 2));
    return this.failure(what, cause);
  }

  /** The running thread, for tests that stop it. */
  get thread(): Worker | null {
    return this.worker;
  }

  /**
   * Refuses new calls, lets waiting ones finish, then asks the thread to
   * close its engine; never waits longer than `timeoutMs` in all: then the
   * thread is terminated, and what still waited rejects.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const deadline = Date.now() + timeoutMs;
    const remaining = () => Math.max(0, deadline - Date.now());
    const within = <T>(promise: Promise<T>): Promise<T | undefined> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve(undefined), remaining());
        promise.then(
          (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          () => {
            clearTimeout(timer);
            resolve(undefined);
          },
        );
      });
    const worker = this.worker ?? (this.starting ? await within(this.starting) : undefined) ?? this.worker;
    if (!worker) return;
    await within(this.whenIdle());
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    await within(this.post(worker, 'close', []));
    if ((await within(exited.then(() => true))) !== true) await worker.terminate();
  }
}
