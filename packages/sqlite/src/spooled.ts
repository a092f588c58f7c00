import { AuditError, type AuditRecord, type Store } from '@audit-trail/core';
import type { SpoolStats } from '@audit-trail/core/store';
import type { SpoolEngineConfig, SpoolPage, SpoolState } from './spool-engine.ts';
import { SYNCHRONOUS_MODES, type SynchronousMode } from './sqlite-store.ts';
import { WorkerClient } from './worker-client.ts';

/** Options of `spooled`; copied and frozen when the store is made. */
export interface SpoolOptions {
  /** The spool's SQLite file (created if missing, its directory is not). One process at a time should use it. */
  path: string;
  /** The most bytes of records (as JSON) the spool holds; an append beyond is refused with `queue_full`. Default 256 MiB. */
  maxBytes?: number;
  /** How long an append may wait so that appends close together share one commit, in ms. Default 5. */
  groupCommitMs?: number;
  /** Records handed to the store per call. Default 500. */
  forwardBatchSize?: number;
  /** The longest pause between attempts while the store fails, in ms (the first is 100 ms, then doubling, with jitter). Default 30,000. */
  maxRetryDelayMs?: number;
  /** How long `close()` keeps forwarding before it leaves the rest in the spool for the next start, in ms. Default 5,000. */
  closeTimeoutMs?: number;
  /** `PRAGMA synchronous` of the spool file; `'full'` also survives power loss. Default `'normal'`. */
  synchronous?: SynchronousMode;
  /** Hears each failure to forward a batch (it is retried); the records stay in the spool. */
  onForwardError?: (error: AuditError) => void;
}

/** A store behind a local spool. */
export interface SpooledStore extends Store {
  /** Settles once the spool file is open: rejects when it cannot be opened. */
  readonly ready: Promise<void>;
  /** What waits in the spool now (as of the last commit or forward). */
  spoolStats(): SpoolStats;
  /** Resolves once everything spooled before the call has been forwarded (or the store is closed). */
  drained(): Promise<void>;
}

const MIB = 1024 * 1024;

function resolveSpoolOptions(options: SpoolOptions) {
  if (typeof options !== 'object' || options === null) throw new TypeError('spooled: options must be an object with a `path`');
  const {
    path,
    maxBytes = 256 * MIB,
    groupCommitMs = 5,
    forwardBatchSize = 500,
    maxRetryDelayMs = 30_000,
    closeTimeoutMs = 5_000,
    synchronous = 'normal',
    onForwardError,
  } = options;
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('spooled: path must be a file path');
  const whole = (name: string, value: unknown, min: number) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new TypeError(`spooled: ${name} must be a whole number, ${min} or more`);
  };
  whole('maxBytes', maxBytes, 1);
  whole('groupCommitMs', groupCommitMs, 0);
  whole('forwardBatchSize', forwardBatchSize, 1);
  whole('maxRetryDelayMs', maxRetryDelayMs, 1);
  whole('closeTimeoutMs', closeTimeoutMs, 0);
  if (!SYNCHRONOUS_MODES.includes(synchronous)) throw new TypeError(`spooled: synchronous must be one of ${SYNCHRONOUS_MODES.join(', ')}`);
  if (onForwardError !== undefined && typeof onForwardError !== 'function') throw new TypeError('spooled: onForwardError must be a function');
  return Object.freeze({ path, maxBytes, groupCommitMs, forwardBatchSize, maxRetryDelayMs, closeTimeoutMs, synchronous, onForwardError });
}

/**
 * Puts a durable local spool in front of any store (store-and-forward).
 * `append` resolves once the batch is committed to the spool file, a SQLite
 * file written by a worker thread with group commit; a forwarder then hands
 * the spooled records to `store` in batches, in order, and deletes them only
 * once `store.append` has resolved. Since stores ignore ids they hold, a
 * batch forwarded again after a crash is stored once. While the store fails,
 * the forwarder retries with backoff and the records wait on disk, not in
 * memory; when the spool reaches `maxBytes`, `append` rejects with an
 * `AuditError` `queue_full`. Whatever a previous process left in the spool
 * is forwarded as soon as the spool opens.
 *
 * Reads (`query`, `get`, the chain) go to `store`: a record appears there
 * once forwarded. `close()` forwards what it can within `closeTimeoutMs`,
 * leaves the rest for the next start, then closes `store`.
 *
 * A `sqliteStore` needs no spool: its own file is as durable as a spool's.
 *
 * @example
 * import { postgresStore } from '@audit-trail/postgres';
 * import { spooled } from '@audit-trail/sqlite';
 *
 * const store = spooled(postgresStore({ connectionString: process.env.DATABASE_URL }), { path: './audit-spool.db' });
 */
export function spooled(store: Store, options: SpoolOptions): SpooledStore {
  if (typeof store !== 'object' || store === null || typeof store.append !== 'function') {
    throw new TypeError('spooled: the first argument must be a Store');
  }
  const config = resolveSpoolOptions(options);
  const engineConfig: SpoolEngineConfig = {
    path: config.path,
    maxBytes: config.maxBytes,
    groupCommitMs: config.groupCommitMs,
    synchronous: config.synchronous,
    busyTimeout: 5000,
  };
  const spool = new WorkerClient({ kind: 'spool', config: engineConfig }, 'spooled');
  let state: SpoolState = { records: 0, bytes: 0, oldestSpooledAt: null };
  let closed = false;
  let stopping = false;
  let wake: (() => void) | null = null;
  let drainedListeners: Array<() => void> = [];

  const ready = spool.start().then(async () => {
    state = (await spool.call('stats', [])) as SpoolState;
  });
  ready.catch(() => undefined);

  const notifyDrained = () => {
    for (const listener of drainedListeners.splice(0)) listener();
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      // A waiting forwarder never keeps the process alive on its own.
      timer.unref?.();
      wake = () => {
        clearTimeout(timer);
        wake = null;
        resolve();
      };
    });

  /** Forwards until stopped: the oldest page, to the store, then deleted from the spool. */
  const forward = async (): Promise<void> => {
    let failures = 0;
    try {
      await ready;
    } catch {
      // The spool could not open; appends report it.
    }
    while (!stopping) {
      let page: SpoolPage;
      try {
        page = (await spool.call('peek', [config.forwardBatchSize])) as SpoolPage;
      } catch (error) {
        if (stopping) return;
        failures++;
        await sleep(backoff(failures));
        continue;
      }
      if (page.records.length === 0) {
        notifyDrained();
        await sleep(60_000);
        continue;
      }
      try {
        await store.append(page.records);
      } catch (error) {
        failures++;
        const failure = new AuditError(
          'store_failed',
          `spooled: the store failed to take ${page.records.length} spooled record(s); they stay in the spool and are retried: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error, records: page.records.length },
        );
        try {
          config.onForwardError?.(failure);
        } catch {
          // A throwing listener must not stop the forwarder.
        }
        if (stopping) return;
        await sleep(backoff(failures));
        continue;
      }
      failures = 0;
      try {
        state = (await spool.call('ack', [page.lastSeq])) as SpoolState;
      } catch {
        // Not deleted: forwarded again later, and ignored by the store then (it holds the ids).
      }
    }
  };

  const backoff = (failures: number): number => {
    const cap = Math.min(config.maxRetryDelayMs, 100 * 2 ** Math.min(failures - 1, 20));
    return cap / 2 + (Math.random() * cap) / 2;
  };

  const forwarding = forward();

  const spooledStore: SpooledStore = {
    ready,
    async append(records: readonly AuditRecord[]) {
      if (closed) throw new AuditError('closed', 'spooled: the store is closed');
      if (records.length === 0) return;
      state = (await spool.call('append', [records])) as SpoolState;
      wake?.();
    },
    query: (query) => store.query(query),
    get: (accountId, id) => store.get(accountId, id),
    ...(store.scanChain ? { scanChain: store.scanChain.bind(store) } : {}),
    ...(store.scanUnchained ? { scanUnchained: store.scanUnchained.bind(store) } : {}),
    ...(store.chainHeads ? { chainHeads: store.chainHeads.bind(store) } : {}),
    spoolStats: () => ({
      records: state.records,
      bytes: state.bytes,
      oldestAgeMs: state.oldestSpooledAt === null ? null : Math.max(0, Date.now() - state.oldestSpooledAt),
    }),
    drained() {
      if (stopping) return Promise.resolve();
      return new Promise((resolve) => {
        drainedListeners.push(resolve);
        wake?.();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      const deadline = Date.now() + config.closeTimeoutMs;
      // Forward what waits, within the bound; the rest stays in the spool for the next start.
      if (state.records > 0) {
        await Promise.race([spooledStore.drained(), new Promise((resolve) => setTimeout(resolve, config.closeTimeoutMs).unref?.())]);
      }
      stopping = true;
      wake?.();
      notifyDrained();
      await Promise.race([forwarding, new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())).unref?.())]);
      await spool.close(Math.max(1000, deadline - Date.now()));
      await store.close();
    },
  };
  return Object.freeze(spooledStore);
}
