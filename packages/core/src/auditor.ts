import { paymentsOsCatalog, type ActionTypeOf, type Catalog } from './catalog.ts';
import { resolveAuditorOptions, type OverflowPolicy } from './auditor-options.ts';
import { AuditError, toError } from './errors.ts';
import { auditorMetrics } from './otel.ts';
import type { AuditChanges, AuditRecord, AuditRequest, AuditTrace, Outcome } from './record.ts';
import type { RedactionOptions } from './redact.ts';
import { createStamper } from './stamp.ts';
import type { SpoolStats, Store } from './store.ts';
import { createWriteQueue } from './write-queue.ts';

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
  /**
   * When the latest record was dropped (ISO 8601), or `null` if none ever was.
   * With `lastFailureAt`, the hook for checks that need to know whether the
   * trail has a gap: a record refused or failed after a given instant means
   * the trail since then is incomplete, however well later writes went.
   */
  lastDropAt: string | null;
  /** When the store last failed to take records after every retry (ISO 8601), or `null`. */
  lastFailureAt: string | null;
  /**
   * Present when the store has a spool (`spooled` from `@audit-trail/sqlite`):
   * records it has taken, durably, and not yet handed on, their size, and
   * how long the oldest has waited. `written` counts records once the spool
   * has them.
   */
  spool?: SpoolStats;
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
  /** Records per store write: a batch this full is written at once. Default 100. */
  batchSize?: number;
  /**
   * The most records per store write. When more than `batchSize` records are
   * waiting (the store was slower than the app for a while), the queue writes
   * what is waiting, up to this, in one batch: a store behind catches up in
   * fewer, larger writes. Default 1,000 (or `batchSize`, if larger).
   */
  maxBatchSize?: number;
  /**
   * Batches handed to the store at once. Default 1: one write at a time.
   * With 2, a full batch that waits while one is written is handed to the
   * store at once, so a store that builds it meanwhile (the PostgreSQL store
   * links and encodes it, and sends it when the one before is done) overlaps
   * its work with the database's. Batches are handed over in queue order; a
   * batch that fails and is retried may land after the one behind it.
   */
  writesInFlight?: number;
  /** Longest wait before a partial batch is written, in ms. Default 20. */
  flushIntervalMs?: number;
  /** Records that may wait for the store: the bound on the auditor's memory. Default 10,000. */
  maxQueueSize?: number;
  /**
   * How drops are reported: the first drop opens an interval this long, and
   * at its end `onError` hears one `queue_full` (or `closed`) error whose
   * `records` counts every record dropped in it, and whose message names the
   * interval's start and end. Default 1,000 ms.
   */
  dropReportIntervalMs?: number;
  /**
   * What to drop when a record arrives and the queue is full: the new record
   * (`drop-newest`, the default: what is queued keeps its order) or the oldest
   * queued one (`drop-oldest`: the newest actions win). Either way the drop is
   * counted and reported through `onError` (in aggregate, see
   * `dropReportIntervalMs`); a required action is never queued
   * in place of another and is refused instead.
   */
  overflow?: OverflowPolicy;
  /** Retries of a failed batch, with exponential backoff and full jitter; `false` for none. */
  retry?: RetryOptions | false;
  /**
   * How long `recordDurable` (and so a required action) waits for its batch,
   * in ms, before it is told the record is not stored (and `onError` hears of
   * it). Default 5,000. The write itself is not abandoned — at most
   * `writesInFlight` batches are ever in flight — so the record may still be
   * stored afterwards.
   */
  durableTimeoutMs?: number;
  /**
   * Fail-closed actions: adapters hold the response of these until their
   * record is stored, and answer 503 instead if it cannot be.
   */
  requiredActions?: readonly NoInfer<ActionTypeOf<C>>[];
}

export { OVERFLOW_POLICIES, type OverflowPolicy } from './auditor-options.ts';

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
   * `closed` when it cannot be queued (checked first: no record is built for
   * an action that would be dropped; the drop is counted and reported to
   * `onError` with the interval's others). A later store failure goes to `onError`.
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
  /** Records an action and never throws: every failure goes to `onError`. Part of the adapter kit (`@audit-trail/core/adapter`): apps use `record`. */
  tryRecord(input: ActionInput<ActionTypeOf<C>>): void;
  /** Reports a failure (a hook that threw, …) through `onError`. Part of the adapter kit (`@audit-trail/core/adapter`). */
  reportError(error: AuditError): void;
  /** Whether an action is fail-closed (see `requiredActions`). Part of the adapter kit (`@audit-trail/core/adapter`). */
  isRequired(actionType: string): boolean;
  /** Resolves once everything queued before the call has been written or failed. */
  flush(): Promise<void>;
  /** Stops accepting records, drains the queue, then closes the store. */
  close(): Promise<void>;
  stats(): AuditorStats;
}

/**
 * Creates an auditor: options resolved once, then a stamper and a write
 * queue built from them.
 *
 * @example
 * const auditor = createAuditor({ store: memoryStore(), onError: (e) => log.error(e) });
 */
export function createAuditor<const C extends Catalog = typeof paymentsOsCatalog>(options: AuditorOptions<C>): Auditor<C> {
  const config = resolveAuditorOptions(options);
  const { store, catalog, durableTimeoutMs, required, reportError } = config;
  const build = createStamper(catalog, config.redactor);
  // Created once; no-ops unless the app registered an OpenTelemetry MeterProvider before.
  const queue = createWriteQueue(config, auditorMetrics());
  const { enqueue, refusal } = queue;
  let closing: Promise<void> | null = null;

  const auditor: Auditor<C> = {
    catalog,
    store,
    record(input) {
      const refused = refusal(actionTypeOf(input), false);
      if (refused) throw refused;
      const record = build(input);
      enqueue(record);
      // A copy: the queued record must not change before the store has it.
      return structuredClone(record) as AuditRecord<ActionTypeOf<C>>;
    },
    recordDurable(input) {
      return new Promise((resolve, reject) => {
        const refused = refusal(actionTypeOf(input), true);
        if (refused) throw refused;
        const record = build(input);
        let settled = false;
        let deadline: ReturnType<typeof setTimeout> | undefined;
        // May throw (closed, queue_full): then no deadline was armed to report a failure that did not happen.
        enqueue(record, (error) => {
          clearTimeout(deadline);
          if (settled) return;
          settled = true;
          if (error) reject(error);
          else resolve(structuredClone(record) as AuditRecord<ActionTypeOf<C>>);
        });
        if (settled) return;
        deadline = setTimeout(() => {
          settled = true;
          const error = new AuditError(
            'store_failed',
            `the store did not confirm ${record.action_type} ${record.id} within ${durableTimeoutMs} ms; it may still be written`,
            { records: 1 },
          );
          reportError(error);
          reject(error);
        }, durableTimeoutMs);
      });
    },
    tryRecord(input) {
      // A request that will be dropped costs a check, not a record.
      if (refusal(actionTypeOf(input), false)) return;
      try {
        enqueue(build(input));
      } catch (error) {
        // queue_full and closed are counted and reported in the interval's aggregate.
        if (error instanceof AuditError && error.code !== 'invalid_record') return;
        reportError(error instanceof AuditError ? error : new AuditError('invalid_record', toError(error).message, { cause: error }));
      }
    },
    reportError,
    isRequired: (actionType) => required.has(actionType),
    flush: () => queue.flush(),
    close() {
      queue.close();
      closing ??= auditor.flush().then(() => store.close());
      return closing;
    },
    stats: () => {
      const spool = store.spoolStats?.();
      return spool ? { ...queue.stats, spool } : { ...queue.stats };
    },
  };
  return auditor;
}

/** The action type of an input not yet validated, for a refusal's message. */
function actionTypeOf(input: unknown): string {
  const type = (input as { action_type?: unknown } | null)?.action_type;
  return typeof type === 'string' ? type : 'an action';
}
