import { paymentsOsCatalog, type ActionTypeOf, type Catalog } from './catalog.ts';
import { AuditError, toError } from './errors.ts';
import { newRecordId } from './ids.ts';
import {
  auditRecordSchema,
  outcomeOfStatus,
  UNKNOWN_REQUEST,
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
  /** Records the store failed to take. */
  failed: number;
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
  /** Records that may wait for the store; past this, new records are dropped and reported. Default 10,000. */
  maxQueueSize?: number;
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

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`createAuditor: ${name} must be a positive integer`);
  return value;
}

function nullableString(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : String(value);
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
  const redactor: Redactor | null = options.redaction === false ? null : createRedactor(options.redaction ?? {});
  const onError = options.onError ?? ((error: AuditError) => console.error('[audit-trail]', error));

  const stats: AuditorStats = { queued: 0, written: 0, dropped: 0, failed: 0 };
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
          request_id: nullableString(req.request_id),
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
    };
    // z.json() lets a cycle through; unredacted details with one must fail here, not in a store or a response.
    if (!redactor) JSON.stringify(record.details);
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

  /** Writes batches one at a time, in queue order, until the queue is empty. */
  const drain = (): Promise<void> => {
    if (writing) return writing;
    writing = (async () => {
      while (queue.length > 0) {
        const batch = queue.length <= batchSize ? queue : queue.slice(0, batchSize);
        queue = queue.length <= batchSize ? [] : queue.slice(batchSize);
        let failure: AuditError | null = null;
        try {
          await store.append(batch.map((p) => p.record));
          stats.written += batch.length;
          stats.queued -= batch.length;
        } catch (cause) {
          failure = new AuditError('store_failed', `the store failed to take ${batch.length} record(s): ${toError(cause).message}`, {
            cause,
            records: batch.length,
          });
          // Moved from queued to failed before onError runs, so that it sees consistent stats.
          stats.failed += batch.length;
          stats.queued -= batch.length;
          reportError(failure);
        }
        for (const pending of batch) pending.settle?.(failure);
      }
    })().finally(() => {
      writing = null;
      // Records queued while the last batch was being written still need a timer.
      if (queue.length > 0) schedule();
    });
    return writing;
  };

  const enqueue = (record: AuditRecord, settle?: (error: AuditError | null) => void): void => {
    if (closed) {
      stats.dropped++;
      const error = new AuditError('closed', `the auditor is closed; ${record.action_type} ${record.id} was not recorded`, { records: 1 });
      reportError(error);
      throw error;
    }
    if (stats.queued >= maxQueueSize) {
      stats.dropped++;
      const error = new AuditError(
        'queue_full',
        `the write queue is full (${maxQueueSize}); ${record.action_type} ${record.id} was not recorded`,
        { records: 1 },
      );
      reportError(error);
      throw error;
    }
    queue.push(settle ? { record, settle } : { record });
    stats.queued++;
    schedule();
  };

  const auditor: Auditor<C> = {
    catalog,
    store,
    record(input) {
      const record = build(input);
      enqueue(record);
      return record as AuditRecord<ActionTypeOf<C>>;
    },
    recordDurable(input) {
      return new Promise((resolve, reject) => {
        const record = build(input);
        enqueue(record, (error) => (error ? reject(error) : resolve(record as AuditRecord<ActionTypeOf<C>>)));
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
