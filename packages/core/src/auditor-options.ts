import { paymentsOsCatalog, type Catalog } from './catalog.ts';
import type { AuditError } from './errors.ts';
import { createRedactor, type Redactor } from './redact.ts';
import type { Store } from './store.ts';
import type { AuditorOptions } from './auditor.ts';

/** What to drop when the queue is full. */
export const OVERFLOW_POLICIES = ['drop-newest', 'drop-oldest'] as const;
export type OverflowPolicy = (typeof OVERFLOW_POLICIES)[number];

/** `AuditorOptions` checked, defaulted and frozen once: what the stamper and the write queue are built from. */
export interface ResolvedAuditorOptions<C extends Catalog = Catalog> {
  readonly store: Store;
  readonly catalog: C;
  readonly batchSize: number;
  readonly maxBatchSize: number;
  readonly writesInFlight: number;
  readonly flushIntervalMs: number;
  readonly maxQueueSize: number;
  readonly overflow: OverflowPolicy;
  readonly retries: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly isTransient: (error: unknown) => boolean;
  readonly durableTimeoutMs: number;
  readonly dropReportIntervalMs: number;
  readonly required: ReadonlySet<string>;
  /** `null` when redaction is off. */
  readonly redactor: Redactor | null;
  /** `onError`, guarded: a throwing handler never breaks the caller. */
  readonly reportError: (error: AuditError) => void;
}

function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new TypeError(`createAuditor: ${name} must be an integer of at least ${min}`);
  }
  return value;
}

/**
 * Checks and defaults the options of `createAuditor`; a mistake throws a
 * `TypeError` naming the option.
 */
export function resolveAuditorOptions<C extends Catalog>(options: AuditorOptions<C>): ResolvedAuditorOptions<C> {
  if (!options || typeof options.store?.append !== 'function' || typeof options.store.query !== 'function') {
    throw new TypeError('createAuditor: store must implement the Store interface (append, query, get, close)');
  }
  const catalog = (options.catalog ?? paymentsOsCatalog) as C;
  const overflow = options.overflow ?? 'drop-newest';
  if (!OVERFLOW_POLICIES.includes(overflow)) {
    throw new TypeError(`createAuditor: overflow must be one of ${OVERFLOW_POLICIES.join(', ')}`);
  }
  const retry = options.retry === false ? { retries: 0 } : (options.retry ?? {});
  const required = new Set<string>();
  for (const action of options.requiredActions ?? []) {
    if (!Object.hasOwn(catalog, action)) {
      throw new TypeError(`createAuditor: requiredActions names "${String(action)}", which is not in the catalog`);
    }
    required.add(action);
  }
  const batchSize = positiveInteger('batchSize', options.batchSize, 100);
  const maxBatchSize = positiveInteger('maxBatchSize', options.maxBatchSize, Math.max(1_000, batchSize));
  if (maxBatchSize < batchSize) throw new TypeError('createAuditor: maxBatchSize must be at least batchSize');
  const writesInFlight = positiveInteger('writesInFlight', options.writesInFlight, 1);
  if (writesInFlight > 8) throw new TypeError('createAuditor: writesInFlight must be an integer from 1 to 8');
  const onError = options.onError ?? ((error: AuditError) => console.error('[audit-trail]', error));
  return Object.freeze({
    store: options.store,
    catalog,
    batchSize,
    maxBatchSize,
    writesInFlight,
    flushIntervalMs: positiveInteger('flushIntervalMs', options.flushIntervalMs, 20),
    maxQueueSize: positiveInteger('maxQueueSize', options.maxQueueSize, 10_000),
    overflow,
    retries: positiveInteger('retry.retries', retry.retries, 3, 0),
    initialDelayMs: positiveInteger('retry.initialDelayMs', retry.initialDelayMs, 100),
    maxDelayMs: positiveInteger('retry.maxDelayMs', retry.maxDelayMs, 5_000),
    isTransient: retry.isTransient ?? (() => true),
    durableTimeoutMs: positiveInteger('durableTimeoutMs', options.durableTimeoutMs, 5_000),
    dropReportIntervalMs: positiveInteger('dropReportIntervalMs', options.dropReportIntervalMs, 1_000),
    required,
    redactor: options.redaction === false ? null : createRedactor(options.redaction ?? {}),
    reportError: (error: AuditError): void => {
      try {
        onError(error);
      } catch {
        // onError is the last channel there is; a throwing handler must not break the caller.
      }
    },
  });
}
