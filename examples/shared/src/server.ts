import type { Server } from 'node:http';
import { createAuditor, paymentsOsCatalog, type Auditor, type PaymentsOsCatalog } from '@audit-trail/core';
import { REQUIRED_ACTIONS } from './demo-auth.ts';
import { DEFAULT_AUDIT_STORE, openStore } from './store.ts';

/** How long a graceful shutdown may take before the process exits anyway. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * Runs an example server the way both examples do: reads `PORT` (default
 * 3000) and `AUDIT_STORE` (default `sqlite:./audit.db`), opens the store,
 * starts the server, and on SIGTERM or SIGINT stops accepting connections,
 * lets in-flight requests finish, drains the audit trail and exits — within
 * 10 s.
 */
export async function runExample(name: string, listen: (auditor: Auditor<PaymentsOsCatalog>, port: number, cursorSecret?: string) => Server): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  const storeSpec = process.env.AUDIT_STORE || DEFAULT_AUDIT_STORE;
  let store;
  try {
    store = await openStore(storeSpec);
  } catch (error) {
    console.error(`Cannot open the audit store: ${(error as Error).message}`);
    process.exit(1);
  }
  const auditor = createAuditor({
    store,
    catalog: paymentsOsCatalog,
    requiredActions: REQUIRED_ACTIONS,
    onError: (error) => console.error(`[audit-trail] ${error.code}: ${error.message}`),
  });
  const server = listen(auditor, port, process.env.AUDIT_CURSOR_SECRET || undefined);
  server.once('listening', () => {
    console.log(`${name} example listening on http://localhost:${port} (audit store: ${storeSpec})`);
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: finishing in-flight requests and draining the audit trail`);
    const deadline = setTimeout(() => {
      console.error(`shutdown took longer than ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    server.close(async () => {
      await auditor.close();
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
