import type { AuditorStats } from './auditor.ts';
import type { ResolvedAuditorOptions } from './auditor-options.ts';
import { AuditError, toError } from './errors.ts';
import type { AuditorMetrics } from './otel.ts';
import type { AuditRecord } from './record.ts';

interface Pending {
  record: AuditRecord;
  settle?: (error: AuditError | null) => void;
}

/** The auditor's write queue: batches, retries, overflow, and the counts of what became of each record. */
export interface WriteQueue {
  /**
   * Queues a record; throws `closed` or `queue_full` (reported) when it cannot.
   * `settle`, when given, hears once the store has it or failed to take it, and the queue writes at once.
   */
  enqueue(record: AuditRecord, settle?: (error: AuditError | null) => void): void;
  /**
   * Whether a record of `actionType` would be refused now, checked before the
   * record is built: the refusal (`closed` or `queue_full`, counted as a drop
   * and reported in the interval's aggregate), or `null` when it would be
   * queued. `awaited`: a caller waits for the record (it never displaces another).
   */
  refusal(actionType: string, awaited: boolean): AuditError | null;
  /** Resolves once everything queued before the call has been written or failed, and reports drops not yet reported. */
  flush(): Promise<void>;
  /** Refuses records from now on. */
  close(): void;
  readonly stats: AuditorStats;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Creates the write queue of an auditor over its store. */
export function createWriteQueue(
  config: Pick<
    ResolvedAuditorOptions,
    | 'store'
    | 'batchSize'
    | 'maxBatchSize'
    | 'flushIntervalMs'
    | 'maxQueueSize'
    | 'overflow'
    | 'retries'
    | 'initialDelayMs'
    | 'maxDelayMs'
    | 'isTransient'
    | 'reportError'
    | 'dropReportIntervalMs'
    | 'writesInFlight'
  >,
  telemetry: AuditorMetrics,
): WriteQueue {
  const { store, batchSize, maxBatchSize, writesInFlight, flushIntervalMs, maxQueueSize, overflow, retries, initialDelayMs, maxDelayMs, isTransient, reportError } = config;
  // The time of the latest drop is kept as a number and formatted when read: a flood of drops costs no strings.
  let lastDropMs = 0;
  const stats: AuditorStats = {
    queued: 0,
    written: 0,
    dropped: 0,
    failed: 0,
    retried: 0,
    get lastDropAt() {
      return lastDropMs === 0 ? null : new Date(lastDropMs).toISOString();
    },
    lastFailureAt: null,
  };
  const drops = createDropReporter(config, maxQueueSize, reportError);
  let queue: Pending[] = [];
  /** The writers running: at most `writesInFlight`. */
  const writers = new Set<Promise<void>>();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;

  const schedule = (): void => {
    if (queue.length >= batchSize) {
      if (timer) clearTimeout(timer);
      timer = null;
      void drain();
    } else if (!timer && writers.size === 0) {
      timer = setTimeout(() => {
        timer = null;
        void drain();
      }, flushIntervalMs);
    }
  };

  /** One call of the store, timed for the write-duration metric. */
  const append = async (records: AuditRecord[]): Promise<void> => {
    const started = performance.now();
    let failed = true;
    try {
      await store.append(records);
      failed = false;
    } finally {
      telemetry.writeDuration((performance.now() - started) / 1000, failed);
    }
  };

  /** Appends one batch, retrying transient failures with exponential backoff and full jitter. */
  const writeBatch = async (records: AuditRecord[]): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await append(records);
        return;
      } catch (cause) {
        if (attempt >= retries || !isTransient(cause)) throw cause;
        stats.retried += records.length;
        await sleep(Math.random() * Math.min(maxDelayMs, initialDelayMs * 2 ** attempt));
      }
    }
  };

  const settleWritten = (batch: Pending[]): void => {
    stats.written += batch.length;
    stats.queued -= batch.length;
    telemetry.written(batch.length);
    for (const pending of batch) pending.settle?.(null);
  };

  const settleFailed = (batch: Pending[], cause: unknown): void => {
    const failure = new AuditError('store_failed', `the store failed to take ${batch.length} record(s): ${toError(cause).message}`, {
      cause,
      records: batch.length,
    });
    // Moved from queued to failed before onError runs, so that it sees consistent stats.
    stats.failed += batch.length;
    stats.queued -= batch.length;
    stats.lastFailureAt = new Date().toISOString();
    telemetry.failed(batch.length);
    reportError(failure);
    for (const pending of batch) pending.settle?.(failure);
  };

  /** One attempt, no retry: the error, or `null` once the store has the records. */
  const attempt = async (batch: Pending[]): Promise<unknown> => {
    try {
      await append(batch.map((p) => p.record));
      settleWritten(batch);
      return null;
    } catch (cause) {
      return cause ?? new Error('append failed');
    }
  };

  /** Halves a failing part until the records the store refuses stand alone. */
  const isolate = async (batch: Pending[], cause: unknown): Promise<void> => {
    if (batch.length === 1) return settleFailed(batch, cause);
    const half = Math.ceil(batch.length / 2);
    for (const part of [batch.slice(0, half), batch.slice(half)]) {
      const error = await attempt(part);
      if (error !== null) await isolate(part, error);
    }
  };

  /**
   * Writes a batch with retries and settles its records. When it still fails,
   * each half is tried once: if both fail, the store is down and the batch
   * fails whole; if one goes through, the batch held a record the store
   * refuses (a NUL character for PostgreSQL, say), which is isolated by
   * halving, so that one bad record cannot take good ones down with it.
   */
  const writePending = async (batch: Pending[]): Promise<void> => {
    let cause: unknown;
    try {
      await writeBatch(batch.map((p) => p.record));
      return settleWritten(batch);
    } catch (error) {
      cause = error;
    }
    if (batch.length === 1) return settleFailed(batch, cause);
    const half = Math.ceil(batch.length / 2);
    const left = batch.slice(0, half);
    const right = batch.slice(half);
    const leftError = await attempt(left);
    const rightError = await attempt(right);
    if (leftError !== null && rightError !== null) return settleFailed([...left, ...right], cause);
    if (leftError !== null) await isolate(left, leftError);
    if (rightError !== null) await isolate(right, rightError);
  };

  /**
   * A writer: takes batches in queue order and writes them one at a time
   * until the queue is empty. A batch is whatever is waiting, up to
   * `maxBatchSize`: a queue that grew deeper than `batchSize` while the last
   * batch was written goes out in fewer, larger writes, which is how a store
   * catches up. One writer runs unless `writesInFlight` allows more; another
   * starts only for a full batch (or a caller waiting for its record), so a
   * store can build the next batch while the last one is written.
   */
  const writer = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue.length <= maxBatchSize ? queue : queue.slice(0, maxBatchSize);
      queue = queue.length <= maxBatchSize ? [] : queue.slice(maxBatchSize);
      await writePending(batch);
    }
  };

  const startWriter = (): void => {
    const running: Promise<void> = writer().finally(() => {
      writers.delete(running);
      // Records queued while the last batch was being written still need a timer.
      if (writers.size === 0 && queue.length > 0) schedule();
    });
    writers.add(running);
  };

  /** Starts a writer if one may start; resolves once the writers running now are done. */
  const drain = (eager = false): Promise<void> => {
    if (queue.length > 0 && (writers.size === 0 || (writers.size < writesInFlight && (eager || queue.length >= batchSize)))) startWriter();
    return Promise.all(writers).then(() => undefined);
  };

  /** Counts one drop (reported later, in aggregate) and returns the error a direct caller is thrown. */
  const refuse = (code: 'closed' | 'queue_full', actionType: string, id?: string): AuditError => {
    stats.dropped++;
    lastDropMs = Date.now();
    telemetry.dropped(1, code);
    drops.count(code);
    const what = id === undefined ? actionType : `${actionType} ${id}`;
    return new AuditError(
      code,
      code === 'closed'
        ? `the auditor is closed; ${what} was not recorded`
        : `the write queue is full (${maxQueueSize}); ${what} was not recorded`,
      { records: 1 },
    );
  };

  const refusal = (actionType: string, awaited: boolean): AuditError | null => {
    if (closed) return refuse('closed', actionType);
    if (stats.queued < maxQueueSize) return null;
    // Under drop-oldest an unawaited record is taken, and the oldest waiting one makes room.
    if (overflow === 'drop-oldest' && !awaited && queue.length > 0) return null;
    return refuse('queue_full', actionType);
  };

  const enqueue = (record: AuditRecord, settle?: (error: AuditError | null) => void): void => {
    if (closed) throw refuse('closed', record.action_type, record.id);
    if (stats.queued >= maxQueueSize) {
      // Under drop-oldest the oldest record still waiting makes room, unless the new one is awaited:
      // a caller waiting for durability is told at once rather than displacing another record.
      const oldest = overflow === 'drop-oldest' && !settle && queue.length > 0 ? queue.shift()! : null;
      if (!oldest) throw refuse('queue_full', record.action_type, record.id);
      stats.queued--;
      const error = refuse('queue_full', oldest.record.action_type, oldest.record.id);
      oldest.settle?.(error);
    }
    queue.push(settle ? { record, settle } : { record });
    stats.queued++;
    if (settle) {
      // Someone is waiting: write now rather than after the batch interval.
      if (timer) clearTimeout(timer);
      timer = null;
      void drain(true);
    } else schedule();
  };


  return {
    enqueue,
    refusal,
    async flush() {
      if (timer) clearTimeout(timer);
      timer = null;
      while (queue.length > 0 || writers.size > 0) await drain();
      drops.reportNow();
    },
    close() {
      closed = true;
    },
    stats,
  };
}

/** What one aggregated report covers: the drops of one code within one interval. */
interface DropWindow {
  records: number;
  start: Date;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Drops are reported in aggregate: the first drop opens an interval of
 * `dropReportIntervalMs`; when it ends, `onError` hears one `AuditError`
 * (`queue_full` or `closed`) whose `records` is the number dropped in it and
 * whose message names the interval. A flood of drops so costs one report
 * per interval, not one per record.
 */
function createDropReporter(
  config: Pick<ResolvedAuditorOptions, 'dropReportIntervalMs'>,
  maxQueueSize: number,
  reportError: (error: AuditError) => void,
) {
  const windows = new Map<'closed' | 'queue_full', DropWindow>();
  const report = (code: 'closed' | 'queue_full'): void => {
    const window = windows.get(code);
    if (!window) return;
    windows.delete(code);
    clearTimeout(window.timer);
    const span = `between ${window.start.toISOString()} and ${new Date().toISOString()}`;
    reportError(
      new AuditError(
        code,
        code === 'closed'
          ? `the auditor is closed; ${window.records} record(s) were not recorded ${span}`
          : `the write queue was full (${maxQueueSize}); ${window.records} record(s) were dropped ${span}`,
        { records: window.records },
      ),
    );
  };
  return {
    count(code: 'closed' | 'queue_full'): void {
      const window = windows.get(code);
      if (window) {
        window.records++;
        return;
      }
      const timer = setTimeout(() => report(code), config.dropReportIntervalMs);
      // A pending report must not keep a process alive that is otherwise done (Node, Bun, Deno).
      (timer as { unref?: () => void }).unref?.();
      windows.set(code, { records: 1, start: new Date(), timer });
    },
    /** Reports every open interval now (on flush and close). */
    reportNow(): void {
      report('queue_full');
      report('closed');
    },
  };
}
