import { ServerResponse } from 'node:http';
import { createAuditor, memoryStore, type AuditRecord, type Store } from '@audit-trail/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import express, { type RequestHandler } from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
// The copy of the API that @audit-trail/core uses (the root has no @opentelemetry/api of its own):
// globals must be registered through the same API version that reads them.
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { expressAudit } from './audit.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE}-${SPAN}-01`;

const MALFORMED = [
  `ff-${TRACE}-${SPAN}-01`, // version ff
  `00-${TRACE.slice(2)}-${SPAN}-01`, // short trace id
  `00-${TRACE}-${SPAN}00-01`, // long span id
  `00-${TRACE.toUpperCase()}-${SPAN}-01`, // uppercase
  `00-${'0'.repeat(32)}-${SPAN}-01`, // all-zero trace id
  `00-${TRACE}-${'0'.repeat(16)}-01`, // all-zero span id
];

const alice = { user: { id: 'usr_alice', email: 'alice@example.com' }, account_id: 'acc_1', role: 'admin' };

afterEach(() => {
  trace.disable();
  context.disable();
  propagation.disable();
});

/** An SDK as an app registers it: tracer provider with an in-memory exporter, AsyncLocalStorage context, W3C propagation. */
function registerSdk() {
  const exporter = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return { exporter, tracer: trace.getTracer('test') };
}

/**
 * A server span the way HTTP instrumentation makes one: continued from the
 * incoming headers, active while the app handles the request, and ended by a
 * `finish` listener added before any of the app's — so before the audit
 * middleware's own `finish` listener runs.
 */
function serverSpans(tracer: Tracer): RequestHandler {
  return (req, res, next) => {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(req.method, { kind: SpanKind.SERVER }, parent);
    res.once('finish', () => span.end());
    context.with(trace.setSpan(parent, span), next);
  };
}

function setup(options: { tracer?: Tracer; store?: Store; identify?: (req: express.Request) => unknown; requiredActions?: ['refund'] } = {}) {
  const store = options.store ?? memoryStore();
  const auditor = createAuditor({ store, flushIntervalMs: 1, requiredActions: options.requiredActions ?? [] });
  const identify = vi.fn(options.identify ?? ((req: express.Request) => (req.get('x-user') === 'alice' ? alice : null)));
  const audit = expressAudit({ auditor, identify: identify as never });
  const app = express();
  if (options.tracer) app.use(serverSpans(options.tracer));
  app.use(audit.middleware);
  const read = async (): Promise<AuditRecord[]> => {
    await auditor.flush();
    return store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 100 });
  };
  /**
   * The account's records once `expected` of them are stored: a record is
   * queued when the response closes, which a loaded machine may run after the
   * client has its answer. That none is made is checked after a short pause.
   */
  const records = async (expected: number): Promise<AuditRecord[]> => {
    if (expected === 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return read();
    }
    return vi.waitFor(
      async () => {
        const list = await read();
        expect(list).toHaveLength(expected);
        return list;
      },
      { timeout: 5_000, interval: 10 },
    );
  };
  return { app, audit, auditor, identify, records };
}

function idsOf(span: ReadableSpan) {
  return { trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId };
}

describe('expressAudit with an OpenTelemetry SDK', () => {
  it('records the server span ids and adds the action to the span before it ends', async () => {
    const { exporter, tracer } = registerSdk();
    const { app, audit, records } = setup({ tracer });
    app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), (_req, res) => {
      res.status(201).json({ id: 'rfd_1' });
    });
    await request(app).post('/payments/pay_123/refunds').set('x-user', 'alice').set('traceparent', TRACEPARENT).expect(201);
    const [record] = await records(1);
    const [span] = exporter.getFinishedSpans();
    expect(span!.kind).toBe(SpanKind.SERVER);
    // The caller's trace, continued by the server span: the record carries the server span's own id.
    expect(record!.trace).toEqual(idsOf(span!));
    expect(record!.trace!.trace_id).toBe(TRACE);
    expect(record!.trace!.span_id).not.toBe(SPAN);
    expect(span!.events.map((e) => [e.name, e.attributes])).toEqual([
      [
        'audit.record',
        {
          'audit.action_type': 'refund',
          'audit.resource': 'payment',
          'audit.resource_id': 'pay_123',
          'audit.outcome': 'success',
          'enduser.id': 'usr_alice',
          'user.id': 'usr_alice',
          'http.route': '/payments/:payment_id/refunds',
          'http.response.status_code': 201,
        },
      ],
    ]);
  });

  it('loses an event added after the instrumentation ended the span (why the event goes on with the head)', async () => {
    const { exporter, tracer } = registerSdk();
    const app = express();
    app.use(serverSpans(tracer));
    app.get('/x', (_req, res) => {
      const span = trace.getActiveSpan()!;
      res.once('finish', () => span.addEvent('too late'));
      res.end();
    });
    await request(app).get('/x').expect(200);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(exporter.getFinishedSpans()[0]!.events).toEqual([]);
  });

  it('adds failures with their status, and asks identify and a resourceId function once', async () => {
    const { exporter, tracer } = registerSdk();
    const { app, audit, identify, records } = setup({ tracer });
    const resourceId = vi.fn((_req: express.Request, res: express.Response) => res.locals.newId as string);
    app.post('/customers', audit.action('create_customer', { resourceId }), (_req, res) => {
      res.locals.newId = 'cus_9';
      res.status(201).end();
    });
    app.get('/payments/:payment_id', audit.action('get_payment', { resourceId: 'payment_id' }), (_req, res) => {
      res.status(404).json({ error: 'not found' });
    });
    app.get('/boom', audit.action('search_payments'), () => {
      throw new Error('boom');
    });
    app.use(audit.errorHandler);
    await request(app).post('/customers').set('x-user', 'alice').expect(201);
    await request(app).get('/payments/pay_missing').set('x-user', 'alice').expect(404);
    await request(app).get('/boom').set('x-user', 'alice').expect(500);
    const list = await records(3);
    expect(identify).toHaveBeenCalledTimes(3);
    expect(resourceId).toHaveBeenCalledTimes(1);
    expect(list.map((r) => [r.action_type, r.resource_id, r.outcome, r.status_code])).toEqual([
      ['create_customer', 'cus_9', 'success', 201],
      ['get_payment', 'pay_missing', 'failure', 404],
      ['search_payments', null, 'failure', 500],
    ]);
    const spans = exporter.getFinishedSpans();
    expect(list.map((r) => r.trace)).toEqual(spans.map(idsOf));
    expect(spans.map((s) => s.events[0]!.attributes)).toEqual([
      expect.objectContaining({ 'audit.action_type': 'create_customer', 'audit.resource_id': 'cus_9', 'audit.outcome': 'success' }),
      expect.objectContaining({ 'audit.action_type': 'get_payment', 'http.response.status_code': 404, 'audit.outcome': 'failure' }),
      expect.objectContaining({ 'audit.action_type': 'search_payments', 'http.response.status_code': 500, 'audit.outcome': 'failure' }),
    ]);
  });

  it('adds nothing for unaudited or unauthenticated requests', async () => {
    const { exporter, tracer } = registerSdk();
    const { app, audit, records } = setup({ tracer });
    app.get('/healthz', (_req, res) => {
      res.end('ok');
    });
    app.get('/payments', audit.action('search_payments'), (_req, res) => {
      res.json([]);
    });
    await request(app).get('/healthz').set('x-user', 'alice').expect(200);
    await request(app).get('/payments').expect(200);
    expect(await records(0)).toEqual([]);
    expect(exporter.getFinishedSpans().flatMap((s) => s.events)).toEqual([]);
  });

  it('adds a fail-closed action once, when its response is released', async () => {
    const { exporter, tracer } = registerSdk();
    const { app, audit, records } = setup({ tracer, requiredActions: ['refund'] });
    app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), (_req, res) => {
      res.status(201).json({ id: 'rfd_1' });
    });
    await request(app).post('/payments/pay_1/refunds').set('x-user', 'alice').expect(201);
    const [record] = await records(1);
    const [span] = exporter.getFinishedSpans();
    expect(record!.trace).toEqual(idsOf(span!));
    expect(span!.events.map((e) => e.attributes!['http.response.status_code'])).toEqual([201]);
  });

  it('records an async identify once; its event lands if the span is still open when it answers', async () => {
    const { tracer } = registerSdk();
    const { app, audit, identify, records } = setup({ tracer, identify: async () => alice });
    app.get('/payments', audit.action('search_payments'), (_req, res) => {
      res.json([]);
    });
    await request(app).get('/payments').expect(200);
    const [record] = await records(1);
    expect(record).toMatchObject({ action_type: 'search_payments', user: { id: 'usr_alice' } });
    expect(identify).toHaveBeenCalledTimes(1);
  });

  it('records reads of the audit router with the server span, and adds them to it', async () => {
    const { exporter, tracer } = registerSdk();
    const { app, audit, records } = setup({ tracer });
    app.use('/audit', audit.router({ authorize: () => true }));
    await request(app).get('/audit').set('x-user', 'alice').expect(200);
    const [read] = await records(1);
    const [span] = exporter.getFinishedSpans();
    expect(read).toMatchObject({ action_type: 'retrieve_audit_data', trace: idsOf(span!) });
    expect(span!.events[0]!.attributes).toMatchObject({ 'audit.action_type': 'retrieve_audit_data', 'http.route': '/audit' });
  });
});

describe('expressAudit with a propagator and no active span', () => {
  it('records the trace the propagator extracts from the request, and null for malformed ones', async () => {
    const w3c = new W3CTraceContextPropagator();
    let extracted = 0;
    propagation.setGlobalPropagator({
      inject: (...args) => w3c.inject(...args),
      extract: (...args) => (extracted++, w3c.extract(...args)),
      fields: () => w3c.fields(),
    });
    const { app, audit, records } = setup();
    app.get('/payments', audit.action('search_payments'), (_req, res) => {
      res.json([]);
    });
    await request(app).get('/payments').set('x-user', 'alice').set('traceparent', TRACEPARENT).expect(200);
    for (const traceparent of MALFORMED) await request(app).get('/payments').set('x-user', 'alice').set('traceparent', traceparent).expect(200);
    const [first, ...rest] = await records(7);
    expect(first!.trace).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(rest.map((r) => r.trace)).toEqual(MALFORMED.map(() => null));
    expect(extracted).toBe(1 + MALFORMED.length);
  });
});

describe('expressAudit without an SDK', () => {
  it('parses traceparent directly, gives null for malformed ones, and leaves the response alone', async () => {
    const { app, audit, records } = setup();
    const writeHeads: unknown[] = [];
    app.get('/payments', audit.action('search_payments'), (_req, res) => {
      writeHeads.push(res.writeHead);
      res.json([]);
    });
    await request(app).get('/payments').set('x-user', 'alice').set('traceparent', TRACEPARENT).expect(200);
    for (const traceparent of MALFORMED) await request(app).get('/payments').set('x-user', 'alice').set('traceparent', traceparent).expect(200);
    await request(app).get('/payments').set('x-user', 'alice').expect(200);
    const [first, ...rest] = await records(8);
    expect(first!.trace).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(rest.map((r) => r.trace)).toEqual([...MALFORMED, 'none'].map(() => null));
    // No span to add an event to: the response is not wrapped.
    expect(writeHeads.every((w) => w === ServerResponse.prototype.writeHead)).toBe(true);
  });
});
