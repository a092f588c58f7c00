import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuditError, createAuditor, memoryStore, type AuditRecord, type Store } from '@audit-trail/core';
import express, { type ErrorRequestHandler } from 'express';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { expressAudit } from './audit.ts';

interface Actor {
  user: { id: string; email: string };
  account_id: string;
  role: string;
}

const alice: Actor = { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_1', role: 'admin' };

function setup(options: { identify?: (req: express.Request) => Actor | null | Promise<Actor | null> } = {}) {
  const store: Store = memoryStore();
  const errors: AuditError[] = [];
  const auditor = createAuditor({ store, flushIntervalMs: 1, onError: (e) => errors.push(e) });
  const audit = expressAudit({
    auditor,
    identify: options.identify ?? ((req) => (req.get('x-user') === 'alice' ? alice : null)),
    routes: {
      'GET /payments/:payment_id': { action: 'get_payment', resourceId: 'payment_id' },
      'POST /payments': 'create_payment',
    },
  });
  const app = express();
  app.use(audit.middleware);
  const records = async (): Promise<AuditRecord[]> => {
    await auditor.flush();
    return store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 100 });
  };
  /** The records once `expected` are stored: a record made when the response closes may come after the client's side is done. */
  const recorded = (expected: number): Promise<AuditRecord[]> =>
    vi.waitFor(
      async () => {
        const list = await records();
        expect(list).toHaveLength(expected);
        return list;
      },
      { timeout: 5_000, interval: 10 },
    );
  return { app, audit, auditor, errors, records, recorded };
}

describe('expressAudit', () => {
  it('records routes named in the route map, with the route template and resource id', async () => {
    const { app, records } = setup();
    app.get('/payments/:payment_id', (req, res) => {
      res.json({ id: req.params.payment_id });
    });
    app.post('/payments', (_req, res) => {
      res.locals.audit.resourceId = 'pay_new';
      res.status(201).json({ id: 'pay_new' });
    });
    await request(app).get('/payments/pay_1?expand=all').set('x-user', 'alice').set('app-id', 'app_9').expect(200);
    await request(app).post('/payments').set('x-user', 'alice').expect(201);
    const [get, create] = await records();
    expect(get).toMatchObject({
      action_type: 'get_payment',
      resource: 'payment',
      resource_id: 'pay_1',
      app_id: 'app_9',
      outcome: 'success',
      status_code: 200,
      request: { method: 'GET', path: '/payments/pay_1', route: '/payments/:payment_id' },
    });
    expect(create).toMatchObject({ action_type: 'create_payment', resource_id: 'pay_new', status_code: 201 });
  });

  it('adds one listener per response, the same function for every request, and none for finish or error', async () => {
    const { app, records } = setup();
    const seen: { close: number; finish: number; error: number; listener: unknown }[] = [];
    const count = (res: express.Response) => ({
      close: res.listenerCount('close'),
      finish: res.listenerCount('finish'),
      error: res.listenerCount('error'),
      listener: res.listeners('close').at(-1),
    });
    const bare = express();
    bare.get('/payments/:payment_id', (_req, res) => {
      seen.push(count(res));
      res.json({});
    });
    app.get('/payments/:payment_id', (_req, res) => {
      seen.push(count(res));
      res.json({});
    });
    await request(bare).get('/payments/pay_0').set('x-user', 'alice').expect(200);
    await request(app).get('/payments/pay_1').set('x-user', 'alice').expect(200);
    await request(app).get('/payments/pay_2').set('x-user', 'alice').expect(200);
    const [without, first, second] = seen;
    expect({ close: first!.close - without!.close, finish: first!.finish - without!.finish, error: first!.error - without!.error }).toEqual({
      close: 1,
      finish: 0,
      error: 0,
    });
    expect(second!.listener).toBe(first!.listener);
    expect((await records()).map((r) => r.resource_id)).toEqual(['pay_1', 'pay_2']);
  });

  it('audits a route-map route in any case, as Express serves it', async () => {
    const { app, records } = setup();
    app.get('/payments/:payment_id', (req, res) => {
      res.json({ id: req.params.payment_id });
    });
    await request(app).get('/PAYMENTS/pay_Up').set('x-user', 'alice').expect(200);
    expect((await records()).map((r) => [r.action_type, r.resource_id, r.request.path])).toEqual([['get_payment', 'pay_Up', '/PAYMENTS/pay_Up']]);
  });

  it('records routes named with audit.action, taking the resource id from a parameter or a function', async () => {
    const { app, audit, records } = setup();
    const router = express.Router();
    router.post('/:customer_id/payment-methods', audit.action('create_payment_method', { resourceId: 'customer_id' }), (_req, res) => {
      res.status(201).end();
    });
    router.post('/', audit.action('create_customer', { resourceId: (_req, res) => res.locals.newId as string }), (_req, res) => {
      res.locals.newId = 'cus_42';
      res.status(201).end();
    });
    app.use('/customers', router);
    app.get('/unaudited', (_req, res) => {
      res.end();
    });
    await request(app).post('/customers/cus_1/payment-methods').set('x-user', 'alice').expect(201);
    await request(app).post('/customers').set('x-user', 'alice').expect(201);
    await request(app).get('/unaudited').set('x-user', 'alice').expect(200);
    const list = await records();
    expect(list.map((r) => [r.action_type, r.resource_id, r.request.route])).toEqual([
      ['create_payment_method', 'cus_1', '/customers/:customer_id/payment-methods'],
      ['create_customer', 'cus_42', '/customers'],
    ]);
  });

  it('records a thrown error and next(err) as failures with the status the client got', async () => {
    const { app, audit, records } = setup();
    app.get('/boom', audit.action('get_customer'), async () => {
      throw new Error('boom');
    });
    app.get('/teapot', audit.action('get_payment'), (_req, _res, next) => {
      next(Object.assign(new Error('short and stout'), { status: 418 }));
    });
    app.get('/forgiven', audit.action('search_payments'), () => {
      throw new Error('handled as 200');
    });
    app.use(audit.errorHandler);
    const handler: ErrorRequestHandler = (err, req, res, _next) => {
      if (req.path === '/forgiven') res.status(200).json({ ok: true });
      else res.status(err.status ?? 500).json({ error: err.message });
    };
    app.use(handler);
    await request(app).get('/boom').set('x-user', 'alice').expect(500);
    await request(app).get('/teapot').set('x-user', 'alice').expect(418);
    await request(app).get('/forgiven').set('x-user', 'alice').expect(200);
    expect((await records()).map((r) => [r.action_type, r.outcome, r.status_code])).toEqual([
      ['get_customer', 'failure', 500],
      ['get_payment', 'failure', 418],
      ['search_payments', 'failure', 200],
    ]);
  });

  it('records the default Express error handler’s 500 as a failure', async () => {
    const { app, audit, records } = setup();
    app.get('/boom', audit.action('get_customer'), () => {
      throw new Error('boom');
    });
    app.use(((_err, _req, res, _next) => {
      res.status(500).end();
    }) as ErrorRequestHandler);
    await request(app).get('/boom').set('x-user', 'alice').expect(500);
    expect((await records()).map((r) => [r.outcome, r.status_code])).toEqual([['failure', 500]]);
  });

  it('records a client abort as a failure with status 499, when the client went away', async () => {
    const { app, audit, records, recorded } = setup();
    let answered = false;
    app.get('/slow', audit.action('generate_report'), (_req, res) => {
      setTimeout(() => {
        answered = true;
        if (!res.destroyed) res.json({ late: true });
      }, 300);
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    const aborted = new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/slow', headers: { 'x-user': 'alice' } });
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    await aborted;
    const [record] = await recorded(1);
    // Recorded when the client went away, not when the handler got round to answering.
    expect(answered).toBe(false);
    expect(record).toMatchObject({ action_type: 'generate_report', outcome: 'failure', status_code: 499 });
    // The handler's late answer to a closed response adds no second record.
    await vi.waitFor(() => expect(answered).toBe(true), { timeout: 5_000 });
    expect(await records()).toHaveLength(1);
    server.close();
  });

  it('records a client that went away in the middle of a streamed answer as a failure with status 499', async () => {
    const { app, audit, records, recorded } = setup();
    let wroteAll = false;
    let finished = false;
    app.get('/export', audit.action('generate_report'), (_req, res) => {
      res.status(200).type('text/plain');
      res.write('first chunk\n');
      setTimeout(() => {
        finished = true;
        if (res.destroyed) return;
        wroteAll = true;
        res.end('last chunk\n');
      }, 300);
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/export', headers: { 'x-user': 'alice' } }, (res) => {
        // Headers and the first chunk arrived: the client gives up before the end.
        res.once('data', () => {
          req.destroy();
          resolve(res.statusCode ?? 0);
        });
      });
      req.on('error', () => undefined);
      req.once('timeout', () => reject(new Error('no answer')));
      req.end();
    });
    const [record] = await recorded(1);
    expect(status).toBe(200);
    expect(record).toMatchObject({ action_type: 'generate_report', outcome: 'failure', status_code: 499 });
    await vi.waitFor(() => expect(finished).toBe(true), { timeout: 5_000 });
    expect(wroteAll).toBe(false);
    expect(await records()).toHaveLength(1);
    server.close();
  });

  it('records a streamed response when it ends, with its status', async () => {
    const { app, audit, records } = setup();
    let ended = 0;
    app.get('/export', audit.action('generate_report'), (_req, res) => {
      res.status(200).type('text/plain');
      let n = 0;
      const tick = setInterval(() => {
        res.write(`line ${n}\n`);
        if (++n === 5) {
          clearInterval(tick);
          ended = Date.now();
          res.end();
        }
      }, 10);
    });
    const res = await request(app).get('/export').set('x-user', 'alice').expect(200);
    expect(res.text.split('\n')).toHaveLength(6);
    const [record] = await records();
    expect(record).toMatchObject({ outcome: 'success', status_code: 200 });
    expect(Date.parse(record!.created)).toBeGreaterThanOrEqual(ended);
  });

  it('never lets a throwing identify hook break the request; the failure goes to onError', async () => {
    const { app, audit, errors, records } = setup({
      identify: () => {
        throw new Error('session store down');
      },
    });
    app.get('/c', audit.action('get_customer'), (_req, res) => {
      res.json({ ok: true });
    });
    await request(app).get('/c').expect(200, { ok: true });
    await vi.waitFor(() => expect(errors.map((e) => e.code)).toEqual(['hook_failed']), { timeout: 5_000 });
    expect(await records()).toEqual([]);
    expect(errors[0]!.message).toContain('session store down');
  });

  it('accepts an async identify hook and does not record unauthenticated requests', async () => {
    const { app, audit, records } = setup({ identify: async (req) => (req.get('x-user') === 'alice' ? alice : null) });
    app.get('/c', audit.action('get_customer'), (_req, res) => {
      res.end();
    });
    await request(app).get('/c').expect(200);
    await request(app).get('/c').set('x-user', 'alice').expect(200);
    expect(await records()).toHaveLength(1);
  });

  it('mounts the Retrieve Audit Data router at any path', async () => {
    const { app, audit, records } = setup();
    app.post('/payments', (_req, res) => {
      res.status(201).end();
    });
    app.use('/admin/audit', audit.router({ authorize: (actor) => actor.role === 'admin' }));
    for (let i = 0; i < 3; i++) await request(app).post('/payments').set('x-user', 'alice').expect(201);
    await records();
    const page = await request(app).get('/admin/audit?limit=2&action_type=create_payment').set('x-user', 'alice').expect(200);
    expect(page.body.data).toHaveLength(2);
    expect(page.headers.link).toMatch(/^<http:\/\/127\.0\.0\.1:\d+\/admin\/audit\?limit=2&action_type=create_payment&cursor=[^>]+>; rel="next"$/);
    const id = page.body.data[0].id as string;
    await request(app).get(`/admin/audit/${id}`).set('x-user', 'alice').expect(200);
    await request(app).get('/admin/audit').expect(401);
    const reads = (await records()).filter((r) => r.action_type === 'retrieve_audit_data');
    expect(reads.map((r) => [r.request.route, r.resource_id])).toEqual([
      ['/admin/audit', null],
      ['/admin/audit/:id', id],
    ]);
  });

  it('rejects configuration mistakes at setup, naming the option', () => {
    const auditor = createAuditor({ store: memoryStore() });
    expect(() => expressAudit({ auditor, identify: undefined as never })).toThrow(/identify/);
    expect(() =>
      expressAudit({ auditor, identify: () => null, routes: { 'POST /x': 'not_an_action' as never } }),
    ).toThrow(/not_an_action/);
    const audit = expressAudit({ auditor, identify: () => null });
    expect(() => audit.action('nope' as never)).toThrow(/nope/);
    // @ts-expect-error an action type outside the catalog is a compile error
    expect(() => audit.action('refnd')).toThrow(TypeError);
    expect(() => audit.router({} as never)).toThrow(/authorize/);
  });

  it('tells the app when audit.action is used without the middleware', async () => {
    const auditor = createAuditor({ store: memoryStore() });
    const audit = expressAudit({ auditor, identify: () => alice });
    const app = express();
    app.get('/x', audit.action('get_payment'), (_req, res) => {
      res.end();
    });
    app.use(((err, _req, res, _next) => {
      res.status(500).json({ message: err.message });
    }) as ErrorRequestHandler);
    const res = await request(app).get('/x').expect(500);
    expect(res.body.message).toMatch(/app\.use\(audit\.middleware\)/);
  });
});

describe('expressAudit fail-closed actions', () => {
  function failClosed(store: Store, durableTimeoutMs = 2_000) {
    const errors: AuditError[] = [];
    const auditor = createAuditor({
      store,
      flushIntervalMs: 60_000,
      retry: false,
      durableTimeoutMs,
      requiredActions: ['replace_authentication_keys'],
      onError: (e) => errors.push(e),
    });
    const audit = expressAudit({ auditor, identify: () => alice });
    const app = express();
    app.use(audit.middleware);
    let sideEffects = 0;
    app.post('/apps/:app_id/keys', audit.action('replace_authentication_keys', { resourceId: 'app_id' }), (_req, res) => {
      sideEffects++;
      res.setHeader('x-new-key', 'k_123');
      res.status(201).json({ replaced: true });
    });
    app.post('/apps/:app_id/keys/stream', audit.action('replace_authentication_keys', { resourceId: 'app_id' }), (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part 1;');
      res.write('part 2;');
      res.end('end');
    });
    app.get('/payments', audit.action('search_payments'), (_req, res) => {
      res.json([]);
    });
    return { app, auditor, errors, sideEffects: () => sideEffects };
  }

  const stored = (store: Store) => store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 100 });

  it('releases the response only once its record is stored', async () => {
    const store = memoryStore();
    const { app } = failClosed(store);
    const res = await request(app).post('/apps/app_1/keys').expect(201);
    expect(res.body).toEqual({ replaced: true });
    expect(res.headers['x-new-key']).toBe('k_123');
    // No flush: the batch interval is a minute, yet the record is already there.
    const records = await stored(store);
    expect(records.map((r) => [r.action_type, r.resource_id, r.status_code, r.outcome])).toEqual([
      ['replace_authentication_keys', 'app_1', 201, 'success'],
    ]);
  });

  it('releases a response written in parts intact', async () => {
    const store = memoryStore();
    const { app } = failClosed(store);
    const res = await request(app).post('/apps/app_1/keys/stream').expect(200);
    expect(res.text).toBe('part 1;part 2;end');
    expect(res.headers['content-type']).toBe('text/plain');
    expect((await stored(store)).map((r) => r.status_code)).toEqual([200]);
  });

  it('answers 503 in the contract format when the store cannot take the record, hiding the handler’s answer', async () => {
    const failing: Store = { ...memoryStore(), append: async () => Promise.reject(new Error('disk full')) };
    const { app, errors, sideEffects } = failClosed(failing);
    const res = await request(app).post('/apps/app_1/keys').expect(503);
    expect(res.body).toEqual({ category: 'api_error', description: expect.any(String), more_info: 'audit_trail' });
    expect(res.headers['x-new-key']).toBeUndefined();
    expect(sideEffects()).toBe(1);
    expect(errors.map((e) => e.code)).toContain('store_failed');
    // Actions that are not required still answer as usual.
    await request(app).get('/payments').expect(200);
  });

  it('answers 503 when the store does not confirm in time', async () => {
    const hanging: Store = { ...memoryStore(), append: () => new Promise(() => {}) };
    const { app, errors } = failClosed(hanging, 50);
    const started = Date.now();
    await request(app).post('/apps/app_1/keys').expect(503);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(errors.some((e) => /did not confirm/.test(e.message))).toBe(true);
  });
});
