import { paymentsOsCatalog, type ActionTypeOf, type Catalog } from './catalog.ts';
import { isChangesShape } from './changes.ts';
import { AuditError, toError } from './errors.ts';
import { newRecordId } from './ids.ts';
import { auditorMetrics } from './otel.ts';
import {
  auditRecordSchema,
  outcomeOfStatus,
  UNKNOWN_REQUEST,
  type AuditChanges,
  type AuditRecord,
  type AuditRequest,
  type AuditTrace,
  type Outcome,
} from './record.ts';
import { createRedactor, type RedactionOptions, type Redactor } from './redact.ts';
import type { Store } from './store.ts';

/** Who performed an action: what identify hooks return. */
export interface AuditActor {
  user: { id: string; email?: string | null };
  /** The account (tenant) the action belongs to; reads are scoped to it. */
  account_id?: string | null;
  /** The business unit, when the app has them. */
  app_id?: string | null;
}

/** One action to record, as adapters and apps describe it. Core adds `id`, `created` and `resource`. */
export interface ActionInput<A extends string = string> extends AuditActor {
  action_type: A;
  resource_id?: string | null;
  /** Defaults to the outcome of `status_code`, or `success` when there is none. */
  outcome?: Outcome;
  status_code?: number | null;
  request?: Partial<AuditRequest>;
  trace?: AuditTrace | null;
  /** App-supplied context; secrets are redacted and oversized values cut before storage. */
  details?: Record<string, unknown>;
  /**
   * What the action changed (see `diffChanges`), or `null` (the default) when
   * not recorded. Redacted and bounded like `details`.
   *
   * @example
   * auditor.record({ action_type: 'update_webhook_configuration', user, changes: diffChanges(before, after) });
   */
  changes?: AuditChanges | null;
  /** When the action completed (its response was sent). Default: now. */
  completed_at?: Date;
}

/** Counters of the write pipeline, readable at any time. */
export interface AuditorStats {
  /** Records accepted and not yet written or failed. */
  queued: number;
  /** Records the store has taken. */
  written: number;
  /** Records refused because the queue was full or the auditor closed. */
  dropped: number;
  /** Records the store failed to take after every retry. */
  failed: number;
  /** Records sent to the store again after a failed attempt (one count per record and retry). */
  retried: number;
}

export interface AuditorOptions<C extends Catalog> {
  /** Where records go. */
  store: Store;
  /** The action catalog. Default: the PaymentsOS catalog. */
  catalog?: C;
  /**
   * The one channel for failures of the trail: store errors, drops, hook errors.
   * Called synchronously; an error it throws is swallowed. Default: `console.error`.
   */
  onError?: (error: AuditError) => void;
  /** Secret redaction; on by default. `false` turns it off (not recommended). */
  redaction?: RedactionOptions | false;
  /** Records per store write. Default 100. */
  batchSize?: number;
  /** Longest wait before a partial batch is written, in ms. Default 20. */
  flushIntervalMs?: number;
  /** Records that may wait for the store: the bound on the auditor's memory. Default 10,000. */
  maxQueueSize?: number;
  /**
   * What to drop when a record arrives and the queue is full: the new record
   * (`drop-newest`, the default: what is queued keeps its order) or the oldest
   * queued one (`drop-oldest`: the newest actions win). Either way the drop is
   * counted and reported through `onError`; a required action is never queued
   * in place of another and is refused instead.
   */
  overflow?: OverflowPolicy;
  /** Retries of a failed batch, with exponential backoff and full jitter; `false` for none. */
  retry?: RetryOptions | false;
  /**
   * How long `recordDurable` (and so a required action) waits for its batch,
   * in ms, before it is told the record is not stored (and `onError` hears of
   * it). Default 5,000. The write itself is not abandoned — at most one batch
   * is ever in flight — so the record may still be stored afterwards.
   */
  durableTimeoutMs?: number;
  /**
   * Fail-closed actions: adapters hold the response of these until their
   * record is stored, and answer 503 instead if it cannot be.
   */
  requiredActions?: readonly NoInfer<ActionTypeOf<C>>[];
}

/** What to drop when the queue is full. */
export const OVERFLOW_POLICIES = ['drop-newest', 'drop-oldest'] as const;
export type OverflowPolicy = (typeof OVERFLOW_POLICIES)[number];

export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  retries?: number;
  /** Upper bound of the first backoff, in ms; doubles per retry. Default 100. */
  initialDelayMs?: number;
  /** Largest backoff, in ms. Default 5,000. */
  maxDelayMs?: number;
  /** Whether an error is worth retrying. Default: every error is. */
  isTransient?: (error: unknown) => boolean;
}

/**
 * The auditor: stamps, validates and redacts actions, then writes them to the
 * store asynchronously in batches. Adapters hand it events; apps may record
 * actions outside HTTP with `record` or `recordDurable`.
 */
export interface Auditor<C extends Catalog = Catalog> {
  readonly catalog: C;
  readonly store: Store;
  /**
   * Stamps and queues an action; returns the record that will be stored.
   * Throws `AuditError` `invalid_record` for bad input, `queue_full` or
   * `closed` when it cannot be queued. A later store failure goes to `onError`.
   *
   * @example
   * auditor.record({ action_type: 'generate_report', user: { id: 'usr_cron' }, account_id: 'acc_acme' });
   */
  record(input: ActionInput<ActionTypeOf<C>>): AuditRecord<ActionTypeOf<C>>;
  /**
   * Like `record`, and resolves once the store has taken the record; rejects
   * with `AuditError` `store_failed` if it has not.
   */
  recordDurable(input: ActionInput<ActionTypeOf<C>>): Promise<AuditRecord<ActionTypeOf<C>>>;
  /** Records an action and never throws: every failure goes to `onError`. For adapters. */
  tryRecord(input: ActionInput<ActionTypeOf<C>>): void;
  /** Reports a failure (a hook that threw, …) through `onError`. */
  reportError(error: AuditError): void;
  /** Whether an action is fail-closed (see `requiredActions`). */
  isRequired(actionType: string): boolean;
  /** Resolves once everything queued before the call has been written or failed. */
  flush(): Promise<void>;
  /** Stops accepting records, drains the queue, then closes the store. */
  close(): Promise<void>;
  stats(): AuditorStats;
}

interface Pending {
  record: AuditRecord;
  settle?: (error: AuditError | null) => void;
}

function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new TypeError(`createAuditor: ${name} must be an integer of at least ${min}`);
  }
  return value;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function nullableString(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : String(value);
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const isText = (value: unknown): value is string => typeof value === 'string';
const isTextOrNull = (value: unknown) => value === null || typeof value === 'string';

/**
 * A quick check that a stamped record passes `auditRecordSchema`: it only ever
 * says yes for records the schema accepts (the schema has the last word
 * whenever it says no). `id`, `created`, `action_type` and `resource` are made
 * by the auditor itself, and redacted details are plain JSON by construction.
 */
function plainlyValid(record: {
  resource_id: unknown;
  user: { id: unknown; email: unknown };
  account_id: unknown;
  app_id: unknown;
  outcome: unknown;
  status_code: unknown;
  request: Record<string, unknown>;
  trace: { trace_id: unknown; span_id: unknown } | null;
}): boolean {
  const { user, request, trace, status_code: status } = record;
  return (
    isText(user.id) &&
    user.id.length > 0 &&
    isTextOrNull(user.email) &&
    isTextOrNull(record.resource_id) &&
    isTextOrNull(record.account_id) &&
    isTextOrNull(record.app_id) &&
    (record.outcome === 'success' || record.outcome === 'failure') &&
    (status === null || (Number.isInteger(status) && (status as number) >= 100 && (status as number) <= 599)) &&
    (trace === null || (isText(trace.trace_id) && TRACE_ID.test(trace.trace_id) && isText(trace.span_id) && SPAN_ID.test(trace.span_id))) &&
    isTextOrNull(request.method) &&
    isTextOrNull(request.path) &&
    isTextOrNull(request.route) &&
    isTextOrNull(request.ip) &&
    isTextOrNull(request.user_agent) &&
    isTextOrNull(request.request_id)
  );
}

/**
 * Creates an auditor.
 *
 * @example
 * const auditor = createAuditor({ store: memoryStore(), onError: (e) => log.error(e) });
 */
export function createAuditor<const C extends Catalog = typeof paymentsOsCatalog>(options: AuditorOptions<C>): Auditor<C> {
  if (!options || typeof options.store?.append !== 'function' || typeof options.store.query !== 'function') {
    throw new TypeError('createAuditor: store must implement the Store interface (append, query, get, close)');
  }
  const store = options.store;
  const catalog = (options.catalog ?? paymentsOsCatalog) as C;
  const batchSize = positiveInteger('batchSize', options.batchSize, 100);
  const flushIntervalMs = positiveInteger('flushIntervalMs', options.flushIntervalMs, 20);
  const maxQueueSize = positiveInteger('maxQueueSize', options.maxQueueSize, 10_000);
  const overflow = options.overflow ?? 'drop-newest';
  if (!OVERFLOW_POLICIES.includes(overflow)) {
    throw new TypeError(`createAuditor: overflow must be one of ${OVERFLOW_POLICIES.join(', ')}`);
  }
  const retry = options.retry === false ? { retries: 0 } : (options.retry ?? {});
  const retries = positiveInteger('retry.retries', retry.retries, 3, 0);
  const initialDelayMs = positiveInteger('retry.initialDelayMs', retry.initialDelayMs, 100);
  const maxDelayMs = positiveInteger('retry.maxDelayMs', retry.maxDelayMs, 5_000);
  const isTransient = retry.isTransient ?? (() => true);
  const durableTimeoutMs = positiveInteger('durableTimeoutMs', options.durableTimeoutMs, 5_000);
  const required = new Set<string>();
  for (const action of options.requiredActions ?? []) {
    if (!Object.hasOwn(catalog, action)) {
      throw new TypeError(`createAuditor: requiredActions names "${String(action)}", which is not in the catalog`);
    }
    required.add(action);
  }
  const redactor: Redactor | null = options.redaction === false ? null : createRedactor(options.redaction ?? {});
  const onError = options.onError ?? ((error: AuditError) => console.error('[audit-trail]', error));

  const stats: AuditorStats = { queued: 0, written: 0, dropped: 0, failed: 0, retried: 0 };
  // Created once; no-ops unless the app registered an OpenTelemetry MeterProvider before.
  const telemetry = auditorMetrics();
  let queue: Pending[] = [];
  let writing: Promise<void> | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  let closing: Promise<void> | null = null;

  const reportError = (error: AuditError): void => {
    try {
      onError(error);
    } catch {
      // onError is the last channel there is; a throwing handler must not break the caller.
    }
  };

  /** Latest instant an id and `created` can hold: 9999-12-31T23:59:59.999Z. */
  const MAX_TIME = 253_402_300_799_999;

  const stamp = (input: ActionInput): AuditRecord => {
    if (!input || typeof input !== 'object') throw new AuditError('invalid_record', 'an action must be an object');
    const action = input.action_type;
    if (typeof action !== 'string' || !Object.hasOwn(catalog, action)) {
      throw new AuditError('invalid_record', `unknown action_type "${String(action)}": it is not in the catalog`);
    }
    const completed = input.completed_at ?? new Date();
    // Checked before an id is made from it: a time outside 1970–9999 has no ISO form or id prefix.
    const time = completed instanceof Date ? completed.getTime() : Number.NaN;
    if (!(time >= 0 && time <= MAX_TIME)) {
      throw new AuditError('invalid_record', 'completed_at must be a valid Date between 1970 and 9999');
    }
    const changes = input.changes ?? null;
    if (changes !== null && !isChangesShape(changes)) {
      throw new AuditError('invalid_record', 'changes must be null or an object of { from, to } entries keyed by path');
    }
    const status = input.status_code ?? null;
    const outcome = input.outcome ?? (status === null ? 'success' : outcomeOfStatus(status));
    const text = redactor ? redactor.text : (s: string) => s;
    const req = input.request;
    const request: AuditRequest = req
      ? {
          method: nullableString(req.method),
          path: req.path == null ? null : text(String(req.path)),
          route: nullableString(req.route),
          ip: nullableString(req.ip),
          user_agent: req.user_agent == null ? null : text(String(req.user_agent)),
          request_id: req.request_id == null ? null : text(String(req.request_id)),
        }
      : { ...UNKNOWN_REQUEST };
    const record = {
      id: newRecordId(completed.getTime()),
      created: completed.toISOString(),
      action_type: action,
      resource: catalog[action]!,
      resource_id: nullableString(input.resource_id),
      user: { id: input.user?.id, email: nullableString(input.user?.email) },
      account_id: nullableString(input.account_id),
      app_id: nullableString(input.app_id),
      outcome,
      status_code: status,
      request,
      // Only the contract's fields: whatever else a trace object carries is not stored.
      trace: input.trace ? { trace_id: input.trace.trace_id, span_id: input.trace.span_id } : null,
      details: redactor ? redactor.details(input.details) : (structuredClone(input.details ?? {}) as AuditRecord['details']),
      changes: redactor ? redactor.changes(changes) : changes && (structuredClone(changes) as AuditChanges),
    };
    // z.json() lets a cycle through; unredacted details with one must fail here, not in a store or a response.
    if (!redactor) JSON.stringify([record.details, record.changes]);
    // The common case is checked by hand (zod costs more than the rest of a record); anything the
    // quick check does not vouch for goes through the schema, which decides and names the problem.
    if (redactor && plainlyValid(record)) return record as AuditRecord;
    const parsed = auditRecordSchema.safeParse(record);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new AuditError('invalid_record', `invalid ${issue.path.join('.') || 'record'}: ${issue.message}`, {
        cause: parsed.error,
      });
    }
    return record as AuditRecord;
  };

  /** `stamp`, with anything else it throws (a cycle or a function in unredacted details, …) as `invalid_record`. */
  const build = (input: ActionInput): AuditRecord => {
    try {
      return stamp(input);
    } catch (error) {
      if (error instanceof AuditError) throw error;
      throw new AuditError('invalid_record', `invalid action: ${toError(error).message}`, { cause: error });
    }
  };

  const schedule = (): void => {
    if (queue.length >= batchSize) {
      if (timer) clearTimeout(timer);
      timer = null;
      void drain();
    } else if (!timer && !writing) {
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

  /** Writes batches one at a time, in queue order, until the queue is empty. */
  const drain = (): Promise<void> => {
    if (writing) return writing;
    writing = (async () => {
      while (queue.length > 0) {
        const batch = queue.length <= batchSize ? queue : queue.slice(0, batchSize);
        queue = queue.length <= batchSize ? [] : queue.slice(batchSize);
        await writePending(batch);
      }
    })().finally(() => {
      writing = null;
      // Records queued while the last batch was being written still need a timer.
      if (queue.length > 0) schedule();
    });
    return writing;
  };

  const refuse = (code: 'closed' | 'queue_full', record: AuditRecord): AuditError => {
    stats.dropped++;
    telemetry.dropped(1, code);
    const error = new AuditError(
      code,
      code === 'closed'
        ? `the auditor is closed; ${record.action_type} ${record.id} was not recorded`
        : `the write queue is full (${maxQueueSize}); ${record.action_type} ${record.id} was not recorded`,
      { records: 1 },
    );
    reportError(error);
    return error;
  };

  const enqueue = (record: AuditRecord, settle?: (error: AuditError | null) => void): void => {
    if (closed) throw refuse('closed', record);
    if (stats.queued >= maxQueueSize) {
      // Under drop-oldest the oldest record still waiting makes room, unless the new one is awaited:
      // a caller waiting for durability is told at once rather than displacing another record.
      const oldest = overflow === 'drop-oldest' && !settle && queue.length > 0 ? queue.shift()! : null;
      if (!oldest) throw refuse('queue_full', record);
      stats.queued--;
      const error = refuse('queue_full', oldest.record);
      oldest.settle?.(error);
    }
    queue.push(settle ? { record, settle } : { record });
    stats.queued++;
    if (settle) {
      // Someone is waiting: write now rather than after the batch interval.
      if (timer) clearTimeout(timer);
      timer = null;
      void drain();
    } else schedule();
  };

  const auditor: Auditor<C> = {
    catalog,
    store,
    record(input) {
      const record = build(input);
      enqueue(record);
      // A copy: the queued record must not change before the store has it.
      return structuredClone(record) as AuditRecord<ActionTypeOf<C>>;
    },
    recordDurable(input) {
      return new Promise((resolve, reject) => {
        const record = build(input);
        let settled = false;
        const deadline = setTimeout(() => {
          settled = true;
          const error = new AuditError(
            'store_failed',
            `the store did not confirm ${record.action_type} ${record.id} within ${durableTimeoutMs} ms; it may still be written`,
            { records: 1 },
          );
          reportError(error);
          reject(error);
        }, durableTimeoutMs);
        enqueue(record, (error) => {
          clearTimeout(deadline);
          if (settled) return;
          settled = true;
          if (error) reject(error);
          else resolve(structuredClone(record) as AuditRecord<ActionTypeOf<C>>);
        });
      });
    },
    tryRecord(input) {
      try {
        enqueue(build(input));
      } catch (error) {
        // queue_full and closed were reported when they happened.
        if (error instanceof AuditError && error.code !== 'invalid_record') return;
        reportError(error instanceof AuditError ? error : new AuditError('invalid_record', toError(error).message, { cause: error }));
      }
    },
    reportError,
    isRequired: (actionType) => required.has(actionType),
    async flush() {
      if (timer) clearTimeout(timer);
      timer = null;
      while (queue.length > 0 || writing) await drain();
    },
    close() {
      closed = true;
      closing ??= auditor.flush().then(() => store.close());
      return closing;
    },
    stats: () => ({ ...stats }),
  };
  return auditor;
}
