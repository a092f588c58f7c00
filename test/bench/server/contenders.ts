import { join, resolve as resolvePath } from 'node:path';
import type { Server } from 'node:http';
import { createAuditor, memoryStore, type AuditActor, type Auditor, type PaymentsOsCatalog, type RouteMap, type Store } from '@audit-trail/core';
import { expressAudit } from '@audit-trail/express';
import { serveNode } from '@audit-trail/example-hono';
import { honoAudit } from '@audit-trail/hono';
import { pathToFileURL } from 'node:url';
import { postgresStore } from '@audit-trail/postgres';
import { sqliteStore } from '@audit-trail/sqlite';
import Database from 'better-sqlite3';
import express, { type RequestHandler } from 'express';
import { Hono, type MiddlewareHandler } from 'hono';
import { logger } from 'hono/logger';
import pg from 'pg';
import { pinoHttp } from 'pino-http';
import { controlledStore, type ControlledStore } from './controlled-store.ts';
import { AUTHORIZATION, ROUTE, type ServerConfig } from './protocol.ts';

/** The fixed user every benchmarked request is made by. */
const ACTOR: AuditActor = Object.freeze({ user: { id: 'usr_bench', email: 'bench@example.com' }, account_id: 'acc_bench' });

/** The route map of the audited contenders: the benchmarked route is a refund of the payment in its path. */
const ROUTES = { [`POST ${ROUTE}`]: { action: 'refund', resourceId: 'payment_id' } } satisfies RouteMap<PaymentsOsCatalog>;

/** What the route answers: a small JSON object, the same in every contender. */
const refundOf = (paymentId: string) => ({ id: 'ref_bench', payment_id: paymentId, amount: 100, currency: 'USD', status: 'succeeded' });

/** The audit pipeline of an audited contender. */
export interface AuditSetup {
  auditor: Auditor<PaymentsOsCatalog>;
  controlled: ControlledStore;
  errors: Record<string, number>;
  /** Flushes, then counts the records the store holds. */
  count(): Promise<number>;
}

/** A contender's running server and what the parent may ask of it. */
export interface Contender {
  server: Server;
  audit: AuditSetup | null;
  /** Records held, for contenders that store without an auditor (the naive one). */
  count: (() => Promise<number>) | null;
  close(): Promise<void>;
}

type Kind = 'bare' | 'audit-count' | 'audit-memory' | 'audit-sqlite' | 'audit-postgres' | 'logger' | 'naive-sqlite';

/** Builds and starts a contender's server on 127.0.0.1 (port chosen by the OS). */
export async function startContender(config: ServerConfig): Promise<Contender> {
  const [framework, kind] = config.contender.replace('pino-http', 'logger').split(':') as ['express' | 'hono', Kind];
  const audit = kind.startsWith('audit-') ? await auditSetup(config, kind) : null;
  const naive = kind === 'naive-sqlite' ? naiveDatabase(join(config.dir, `${config.contender.replace(':', '-')}.db`)) : null;

  let server: Server;
  if (framework === 'express') {
    const app = express();
    if (audit) app.use(expressAudit({ auditor: audit.auditor, identify: () => ACTOR, routes: ROUTES }).middleware);
    if (kind === 'logger') app.use(pinoHttp({}, { write: () => undefined }));
    if (naive) app.use(naive.express);
    app.use(authenticateExpress);
    app.post(ROUTE, (req, res) => {
      res.status(201).json(refundOf(req.params.payment_id));
    });
    server = app.listen(0, '127.0.0.1');
  } else {
    const app = new Hono();
    if (audit) app.use(honoAudit({ auditor: audit.auditor, identify: () => ACTOR, routes: ROUTES }).middleware);
    if (kind === 'logger') app.use(logger(() => undefined));
    if (naive) app.use(naive.hono);
    app.use(authenticateHono);
    app.post(ROUTE, (c) => c.json(refundOf(c.req.param('payment_id')), 201));
    server = serveNode(app, 0, '127.0.0.1');
  }
  await new Promise<void>((resolve, reject) => {
    if (server.listening) resolve();
    else server.once('listening', resolve).once('error', reject);
  });

  return {
    server,
    audit,
    count: naive ? async () => naive.count() : null,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await audit?.auditor.close();
      naive?.close();
    },
  };
}

const authenticateExpress: RequestHandler = (req, res, next) => {
  if (req.headers.authorization === AUTHORIZATION) next();
  else res.status(401).json({ category: 'api_authentication_error' });
};

const authenticateHono: MiddlewareHandler = async (c, next) => {
  if (c.req.header('authorization') !== AUTHORIZATION) return c.json({ category: 'api_authentication_error' }, 401);
  await next();
};

async function auditSetup(config: ServerConfig, kind: Kind): Promise<AuditSetup> {
  const errors: Record<string, number> = {};
  let count: () => Promise<number>;
  let store: Store;
  if (kind === 'audit-count') {
    store = countingStore();
    count = async () => controlled.taken();
  } else if (kind === 'audit-memory') {
    store = memoryStore();
    count = async () => controlled.taken();
  } else if (kind === 'audit-sqlite') {
    const file = join(config.dir, `${config.contender.replace(':', '-')}.db`);
    const sqlite = sqliteStore({ database: file });
    await sqlite.ready; // the file exists (and is migrated) once the writer thread has opened it
    store = sqlite;
    const reader = new Database(file, { readonly: true });
    const statement = reader.prepare('SELECT count(*) AS n FROM audit_records');
    count = async () => (statement.get() as { n: number }).n;
  } else {
    if (!config.databaseUrl || !config.pgSchema) throw new Error('the PostgreSQL contender needs databaseUrl and pgSchema');
    const postgres = postgresStore({ connectionString: config.databaseUrl, schema: config.pgSchema });
    await postgres.migrate();
    store = postgres;
    // A hook for what runs in front of PostgreSQL (a local spool, say): a module whose
    // `wrapStore(store, { dir })` returns the store the auditor writes to.
    const wrapper = process.env.AUDIT_BENCH_PG_STORE_WRAPPER;
    if (wrapper) {
      const module = (await import(pathToFileURL(resolvePath(wrapper)).href)) as { wrapStore: (store: Store, options: { dir: string }) => Store | Promise<Store> };
      store = await module.wrapStore(postgres, { dir: config.dir });
    }
    // A connection per count: one held open would die (and, without a listener, crash this
    // process) when the scenario that shuts PostgreSQL down does so.
    const { databaseUrl, pgSchema } = config;
    count = async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${pgSchema}".audit_records`)).rows[0]!.n);
      } finally {
        await client.end();
      }
    };
  }
  const controlled = controlledStore(store);
  const auditor = createAuditor({
    store: controlled.store,
    ...(config.maxQueueSize ? { maxQueueSize: config.maxQueueSize } : {}),
    // Counted, not printed: a stalled store drops thousands of records a second.
    onError: (error) => {
      errors[error.code] = (errors[error.code] ?? 0) + 1;
    },
  });
  return {
    auditor,
    controlled,
    errors,
    async count() {
      await auditor.flush();
      // A spool in front of the store has the records once flushed; counted once it has forwarded them.
      await (store as { drained?: () => Promise<void> }).drained?.();
      const held = await count();
      // The memory store is emptied after each count, so that it does not grow across rounds; taken() keeps counting.
      if (kind === 'audit-memory') await controlled.replace(() => memoryStore());
      return held;
    },
  };
}

/**
 * A store that takes every batch at once and keeps nothing (the wrapper
 * around it counts what it took): what the request path and the auditor cost
 * on the main thread, with no store I/O and no store work at all.
 */
function countingStore(): Store {
  return {
    append: async () => undefined,
    query: async () => [],
    get: async () => null,
    close: async () => undefined,
  };
}

/**
 * What a hand-written audit middleware often looks like: one synchronous
 * better-sqlite3 INSERT per request, into the same table and indexes as the
 * SQLite store's (the schema is created by opening `sqliteStore` once), with no
 * validation, redaction or batching.
 */
function naiveDatabase(file: string) {
  // The same schema (table, four indexes) as the store's; then the store is done with.
  void sqliteStore({ database: file, thread: false }).close();
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const insert = db.prepare(
    `INSERT INTO audit_records (id, account_id, created, action_type, resource, resource_id, user_id, user_email, app_id,
       outcome, status_code, request_method, request_path, request_route, request_ip, request_user_agent, request_id, trace_id, span_id, details)
     VALUES (?, ?, ?, 'refund', 'payment', ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, '{}')`,
  );
  const write = (status: number, method: string, path: string, ip: string | null, userAgent: string | null) => {
    insert.run(
      `aud_${crypto.randomUUID()}`,
      ACTOR.account_id,
      new Date().toISOString(),
      /^\/payments\/([^/]+)\/refunds$/.exec(path)?.[1] ?? null,
      ACTOR.user.id,
      ACTOR.user.email,
      status < 400 ? 'success' : 'failure',
      status,
      method,
      path,
      ROUTE,
      ip,
      userAgent,
    );
  };
  const count = db.prepare('SELECT count(*) AS n FROM audit_records');
  const express: RequestHandler = (req, res, next) => {
    res.on('finish', () => write(res.statusCode, req.method, req.path, req.socket.remoteAddress ?? null, req.headers['user-agent'] ?? null));
    next();
  };
  const hono: MiddlewareHandler = async (c, next) => {
    await next();
    write(c.res.status, c.req.method, c.req.path, null, c.req.header('user-agent') ?? null);
  };
  return { express, hono, count: () => (count.get() as { n: number }).n, close: () => db.close() };
}
