import { createAuditor, paymentsOsCatalog } from '@audit-trail/core';
import { DEFAULT_AUDIT_STORE, openStore } from '@audit-trail/example-shared';
import { createApp } from './app.ts';
import { serveNode } from './node.ts';

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
  onError: (error) => console.error(`[audit-trail] ${error.code}: ${error.message}`),
});
const app = createApp({ auditor, ...(process.env.AUDIT_CURSOR_SECRET ? { cursorSecret: process.env.AUDIT_CURSOR_SECRET } : {}) });

const server = serveNode(app, port);
server.once('listening', () => {
  console.log(`Hono example listening on http://localhost:${port} (audit store: ${storeSpec})`);
});

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: finishing in-flight requests and draining the audit trail`);
  const deadline = setTimeout(() => {
    console.error('shutdown took longer than 10 s; exiting');
    process.exit(1);
  }, 10_000);
  deadline.unref();
  server.close(async () => {
    await auditor.close();
    process.exit(0);
  });
  server.closeIdleConnections();
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
