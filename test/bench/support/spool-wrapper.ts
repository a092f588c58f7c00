/**
 * `AUDIT_BENCH_PG_STORE_WRAPPER=test/bench/support/spool-wrapper.ts`: the
 * PostgreSQL contenders write through a durable local spool (`spooled` from
 * `@audit-trail/sqlite`) in the bench's temporary directory.
 */
import path from 'node:path';
import type { Store } from '@audit-trail/core';
import { spooled } from '@audit-trail/sqlite';

export function wrapStore(store: Store, options: { dir: string }): Store {
  return spooled(store, { path: path.join(options.dir, `spool-${process.pid}-${Date.now()}.db`), onForwardError: () => undefined });
}
