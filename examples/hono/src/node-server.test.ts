import type { Server } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuditor, memoryStore, type AuditRecord } from '@audit-trail/core';
import { honoAudit } from '@audit-trail/hono';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { serveNode } from './node.ts';

// The Hono adapter on a real @hono/node-server server: what `app.request()` cannot show.
// (These tests live here because this package, not @audit-trail/hono, depends on @hono/node-server.)

const alice = { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_1' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client of `path` that goes away after `ms`, before the answer. */
function goAwayAfter(port: number, path: string, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { 'x-user': 'alice' } });
    req.on('error', () => resolve());
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve();
    }, ms);
  });
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

function setup() {
  const store = memoryStore();
  const auditor = createAuditor({ store, flushIntervalMs: 1 });
  const audit = honoAudit({ auditor, identify: (c) => (c.req.header('x-user') === 'alice' ? alice : null) });
  const app = new Hono();
  app.use(audit.middleware);
  const records = async (): Promise<AuditRecord[]> => {
    await sleep(5);
    await auditor.flush();
    return store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 100 });
  };
  const listen = async () => {
    server = serveNode(app, 0, '127.0.0.1');
    await new Promise((resolve) => server!.once('listening', resolve));
    return (server.address() as AddressInfo).port;
  };
  return { app, audit, records, listen };
}

describe('honoAudit on @hono/node-server', () => {
  it('records a client that went away before the answer as a failure with status 499, once', async () => {
    const { app, audit, records, listen } = setup();
    let answered = false;
    let signalled = false;
    app.get('/slow', audit.action('generate_report'), async (c) => {
      c.req.raw.signal.addEventListener('abort', () => (signalled = true));
      await sleep(300);
      answered = true;
      return c.json({ late: true });
    });
    const port = await listen();
    const started = Date.now();
    await goAwayAfter(port, '/slow', 50);
    await sleep(100);
    const list = await records();
    expect(signalled).toBe(true);
    expect(answered).toBe(false);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ action_type: 'generate_report', outcome: 'failure', status_code: 499, user: { id: 'usr_alice' } });
    // Recorded when the client went away, not when the handler gave up.
    expect(Date.parse(list[0]!.created) - started).toBeLessThan(250);
    // The handler finishing later does not record the request a second time.
    await sleep(300);
    expect(answered).toBe(true);
    expect(await records()).toHaveLength(1);
  });

  it('records a client that went away on a route named in the route map as a 499 failure, with its resource', async () => {
    const store = memoryStore();
    const auditor = createAuditor({ store, flushIntervalMs: 1 });
    const audit = honoAudit({
      auditor,
      identify: (c) => (c.req.header('x-user') === 'alice' ? alice : null),
      routes: { 'GET /payments/:payment_id': { action: 'get_payment', resourceId: 'payment_id' } },
    });
    const app = new Hono();
    app.use(audit.middleware);
    app.get('/payments/:payment_id', async (c) => {
      await sleep(300);
      return c.json({ id: c.req.param('payment_id') });
    });
    server = serveNode(app, 0, '127.0.0.1');
    await new Promise((resolve) => server!.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    await goAwayAfter(port, '/payments/pay_gone', 50);
    await sleep(400);
    await auditor.flush();
    const list = await store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 100 });
    expect(list.map((r) => [r.action_type, r.resource_id, r.outcome, r.status_code])).toEqual([['get_payment', 'pay_gone', 'failure', 499]]);
  });

  it('records an answered request once, as a success, and keeps the connection usable', async () => {
    const { app, audit, records, listen } = setup();
    app.get('/fast', audit.action('generate_report'), (c) => c.json({ ok: true }));
    app.post('/echo', audit.action('create_customer'), async (c) => c.json(await c.req.json(), 201));
    const port = await listen();
    const res = await fetch(`http://127.0.0.1:${port}/fast`, { headers: { 'x-user': 'alice' } });
    expect(await res.json()).toEqual({ ok: true });
    // Reading the signal at entry must not disturb reading the body later.
    const echo = await fetch(`http://127.0.0.1:${port}/echo`, {
      method: 'POST',
      headers: { 'x-user': 'alice', 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Ada' }),
    });
    expect(echo.status).toBe(201);
    expect(await echo.json()).toEqual({ name: 'Ada' });
    await sleep(50);
    expect((await records()).map((r) => [r.action_type, r.outcome, r.status_code])).toEqual([
      ['generate_report', 'success', 200],
      ['create_customer', 'success', 201],
    ]);
  });
});
