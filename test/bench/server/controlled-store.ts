import type { AuditRecord, Store } from '@audit-trail/core';

/** A store wrapper the bench can stall, and which counts what the inner store took. */
export interface ControlledStore {
  store: Store;
  /** From now on `append` waits (does not resolve) until `resume()`. */
  stall(): void;
  resume(): void;
  /** Records the inner store has taken so far, over every inner store. */
  taken(): number;
  /** `append` calls that resolved so far, and their total and longest duration in ms (a stall's wait included). */
  appends(): { count: number; totalMs: number; maxMs: number };
  /** Replaces the inner store by a fresh one (the old one is closed); for the memory store, so it does not grow across rounds. */
  replace(open: () => Store): Promise<void>;
}

/** Wraps a store; the wrapper adds one `await` per batch, nothing per record. */
export function controlledStore(first: Store): ControlledStore {
  let inner = first;
  let gate: Promise<void> | null = null;
  let open: (() => void) | null = null;
  let taken = 0;
  const appends = { count: 0, totalMs: 0, maxMs: 0 };
  const store: Store = {
    async append(records: readonly AuditRecord[]) {
      const started = performance.now();
      while (gate) await gate;
      await inner.append(records);
      taken += records.length;
      const ms = performance.now() - started;
      appends.count++;
      appends.totalMs += ms;
      appends.maxMs = Math.max(appends.maxMs, ms);
    },
    query: (query) => inner.query(query),
    get: (accountId, id) => inner.get(accountId, id),
    close: () => inner.close(),
    // A spool's depth shows through, so that auditor.stats() reports it.
    spoolStats: () => inner.spoolStats?.() ?? { records: 0, bytes: 0, oldestAgeMs: null },
  };
  return {
    store,
    stall() {
      gate ??= new Promise<void>((resolve) => (open = resolve));
    },
    resume() {
      open?.();
      gate = null;
      open = null;
    },
    taken: () => taken,
    appends: () => ({ ...appends }),
    async replace(next) {
      const old = inner;
      inner = next();
      await old.close();
    },
  };
}
