import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresStore } from '@audit-trail/postgres';
import { sqliteStore } from '@audit-trail/sqlite';
import { inject } from 'vitest';
import type { Server } from 'node:http';
import { createAuditor, memoryStore, type Auditor, type AuditorOptions, type PaymentsOsCatalog, type Store } from '@audit-trail/core';
import { createApp as createExpressApp } from '@audit-trail/example-express';
import { REQUIRED_ACTIONS } from '@audit-trail/example-shared';
import { createApp as createHonoApp, serveNode } from '@audit-trail/example-hono';
import { createApp as createFastifyApp, serveFastify } from '@audit-trail/example-fastify';

/** A running example server, listening on a loopback port. */
export interface ExampleServer {
  url: string;
  auditor: Auditor<PaymentsOsCatalog>;
  /** Everything the auditor reported through `onError`. */
  errors: unknown[];
  close(): Promise<void>;
}

export interface ServerOptions {
  store: Store;
  auditor?: Partial<Omit<AuditorOptions<PaymentsOsCatalog>, 'store'>>;
}

/** One of the example apps, startable on any store. */
export interface ExampleApp {
  name: string;
  start(options: ServerOptions): Promise<ExampleServer>;
}

/** Creates the auditor the way the examples' servers do, collecting errors for assertions. */
export function testAuditor(options: ServerOptions): { auditor: Auditor<PaymentsOsCatalog>; errors: unknown[] } {
  const errors: unknown[] = [];
  const auditor = createAuditor<PaymentsOsCatalog>({
    flushIntervalMs: 5,
    requiredActions: REQUIRED_ACTIONS,
    ...options.auditor,
    store: options.store,
    onError: (error) => {
      errors.push(error);
      options.auditor?.onError?.(error);
    },
  });
  return { auditor, errors };
}

/** Resolves once a Node server listens, with its loopback URL. */
export function listening(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    const ready = () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    if (server.listening) ready();
    else server.once('listening', ready).once('error', reject);
  });
}

/** Closes a Node server, dropping idle keep-alive connections. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** An example app served on a loopback port by `listen`, with the auditor the examples' servers use. */
function servedExample(name: string, listen: (auditor: Auditor<PaymentsOsCatalog>) => Server): ExampleApp {
  return {
    name,
    async start(options) {
      const { auditor, errors } = testAuditor(options);
      const server = listen(auditor);
      const url = await listening(server);
      return {
        url,
        auditor,
        errors,
        async close() {
          await closeServer(server);
          await auditor.close();
        },
      };
    },
  };
}

export const expressExample = servedExample('express', (auditor) => createExpressApp({ auditor }).listen(0, '127.0.0.1'));

export const honoExample = servedExample('hono', (auditor) => serveNode(createHonoApp({ auditor }), 0, '127.0.0.1'));

export const fastifyExample = servedExample('fastify', (auditor) => serveFastify(createFastifyApp({ auditor }), 0, '127.0.0.1'));

/** Every example app; the HTTP contract suite runs unchanged against each. */
export const exampleApps: ExampleApp[] = [expressExample, honoExample, fastifyExample];

/** A store kind the contract suite runs on. */
export interface StoreKind {
  name: string;
  open(): Promise<Store>;
}

export const memoryStoreKind: StoreKind = { name: 'memory', open: async () => memoryStore() };

/** A SQLite file in a fresh temporary directory, removed when the process exits. */
export const sqliteStoreKind: StoreKind = {
  name: 'sqlite',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'audit-trail-contract-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return sqliteStore({ database: join(dir, 'audit.db') });
  },
};

/** The test PostgreSQL server (embedded, or `DATABASE_URL`), in a fresh schema. */
export const postgresStoreKind: StoreKind = {
  name: 'postgres',
  async open() {
    const schema = `contract_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
    const store = postgresStore({ connectionString: inject('databaseUrl'), schema });
    await store.migrate();
    return store;
  },
};

/** Every store kind the contract suite runs on. */
export const storeKinds: StoreKind[] = [memoryStoreKind, sqliteStoreKind, postgresStoreKind];
