import { createAuditor, memoryStore, type AuditRecord } from '@audit-trail/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Hono, type Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { afterEach, describe, expect, it, vi } from 'vitest';
// The copy of the API that @audit-trail/core uses (the root has no @opentelemetry/api of its own):
// globals must be registered through the same API version that reads them.
import { context, propagation, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { honoAudit } from './audit.ts';

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
 * A server span the way @hono/otel makes one: continued from the incoming
 * headers, active while the handlers run, and ended as soon as the rest of
 * the middleware chain has returned.
 */
function serverSpans(tracer: Tracer) {
  return createMiddleware(async (c, next) => {
    const parent = propagation.extract(context.active(), c.req.raw.headers, {
      get: (headers, key) => headers.get(key) ?? undefined,
      keys: (headers) => [...headers.keys()],
    });
    await tracer.startActiveSpan(`${c.req.method}`, { kind: SpanKind.SERVER }, parent, async (span) => {
      try {
        await next();
      } finally {
        span.end();
      }
    });
  });
}

function setup(options: { tracer?: Tracer; identify?: (c: Context) => unknown; requiredActions?: ['refund'] } = {}) {
  const store = memoryStore();
  const auditor = createAuditor({ store, flushIntervalMs: 1, requiredActions: options.requiredActions ?? [] });
  const identify = vi.fn(options.identify ?? ((c: Context) => (c.req.header('x-user') === 'alice' ? alice : null)));
  const audit = honoAudit({ auditor, identify: identify as never });
  const app = new Hono();
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
  return { app, audit, identify, records };
}

function idsOf(span: ReadableSpan) {
  return { trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId };
}

const as = (headers: Record<string, string> = {}) => ({ headers: { 'x-user': 'alice', ...headers } });

describe('honoAudit with an OpenTelemetry SDK', () => {
  it('records the server span ids and adds the action to the span before it ends', async () => {
    const { exporter, tracer } = registerSdk();
    const { app, audit, records } = setup({ tracer });
    app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), (c) => c.json({ id: 'rfd_1' }, 201));
    const res = await app.request('/payments/pay_123/refunds', { method: 'POST', ...as({ traceparent: TRACEPARENT }) });
    expect(res.status).toBe(201);
    const [record] = await records(1);
    const [span] = exporter.getFinishedSpans();
    expect(span!.kind).toBe(SpanKind.SERVER);
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

  it('adds failures, async identities and errors with their status', async () => {
    const { exporter, tracer } = registerSdk();
    const { app, audit, records } = setup({ tracer, identify: async (c) => (c.req.header('x-user') === 'alice' ? alice : null) });
    app.get('/payments/:payment_id', audit.action('get_payment', { resourceId: 'payment_id' }), (c) => c.json({ error: 'not found' }, 404));
    app.get('/boom', audit.action('search_payments'), () => {
      throw new Error('boom');
    });
    expect((await app.request('/payments/pay_missing', as())).status).toBe(404);
    expect((await app.request('/boom', as())).status).toBe(500);
    const list = await records(2);
    const spans = exporter.getFinishedSpans();
    expect(list.map((r) => [r.action_type, r.outcome, r.status_code])).toEqual([
      ['get_payment', 'failure', 404],
      ['search_payments', 'failure', 500],
    ]);
    expect(list.map((r) => r.trace)).toEqual(spans.map(idsOf));
    expect(spans.map((s) => s.events.map((e) => e.attributes))).toEqual([
      [expect.objectContaining({ 'audit.action_type': 'get_payment', 'audit.outcome': 'failure', 'http.response.status_code': 404, 'enduser.id': 'usr_alice' })],
      [expect.objectContaining({ 'audit.action_type': 'search_payments', 'audit.outcome': 'failure', 'http.response.status_code': 500 })],
    ]);
  });

  it('adds nothing for unaudited or unauthenticated requests', async () => {
    const { exporter, tracer } = registerSdk();
    const { app, audit, records } = setup({ tracer });
    app.get('/healthz', (c) => c.text('ok'));
    app.get('/payments', audit.action('search_payments'), (c) => c.json([]));
    await app.request('/healthz', as());
    await app.request('/payments');
    expect(await records(0)).toEqual([]);
    expect(exporter.getFinishedSpans()).toHaveLength(2);
    expect(exporter.getFinishedSpans().flatMap((s) => s.events)).toEqual([]);
  });

  it('adds a fail-closed action once, when its record is stored', async () => {
    const { exporter, tracer } = registerSdk();
    const { app, audit, records } = setup({ tracer, requiredActions: ['refund'] });
    app.post('/payments/:payment_id/refunds', audit.action('refund', { resourceId: 'payment_id' }), (c) => c.json({ id: 'rfd_1' }, 201));
    expect((await app.request('/payments/pay_1/refunds', { method: 'POST', ...as() })).status).toBe(201);
    const [record] = await records(1);
    const [span] = exporter.getFinishedSpans();
    expect(record!.trace).toEqual(idsOf(span!));
    expect(span!.events.map((e) => e.attributes!['http.response.status_code'])).toEqual([201]);
  });

  it('records reads of the audit router with the server span, and adds them to it', async () => {
    const { exporter, tracer } = registerSdk();
    const { app, audit, records } = setup({ tracer });
    app.route('/audit', audit.router({ authorize: () => true }));
    expect((await app.request('/audit', as())).status).toBe(200);
    const [read] = await records(1);
    const [span] = exporter.getFinishedSpans();
    expect(read).toMatchObject({ action_type: 'retrieve_audit_data', trace: idsOf(span!) });
    expect(span!.events[0]!.attributes).toMatchObject({ 'audit.action_type': 'retrieve_audit_data', 'http.route': '/audit' });
  });
});

describe('honoAudit with a propagator and no active span', () => {
  it('records the trace the propagator extracts from the request, and null for malformed ones', async () => {
    const w3c = new W3CTraceContextPropagator();
    let extracted = 0;
    propagation.setGlobalPropagator({
      inject: (...args) => w3c.inject(...args),
      extract: (...args) => (extracted++, w3c.extract(...args)),
      fields: () => w3c.fields(),
    });
    const { app, audit, records } = setup();
    app.get('/payments', audit.action('search_payments'), (c) => c.json([]));
    await app.request('/payments', as({ traceparent: TRACEPARENT }));
    for (const traceparent of MALFORMED) await app.request('/payments', as({ traceparent }));
    const [first, ...rest] = await records(7);
    expect(first!.trace).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(rest.map((r) => r.trace)).toEqual(MALFORMED.map(() => null));
    expect(extracted).toBe(1 + MALFORMED.length);
  });
});

describe('honoAudit without an SDK', () => {
  it('parses traceparent directly and gives null for malformed ones', async () => {
    const { app, audit, records } = setup();
    app.get('/payments', audit.action('search_payments'), (c) => c.json([]));
    await app.request('/payments', as({ traceparent: TRACEPARENT }));
    for (const traceparent of MALFORMED) await app.request('/payments', as({ traceparent }));
    await app.request('/payments', as());
    const [first, ...rest] = await records(8);
    expect(first!.trace).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(rest.map((r) => r.trace)).toEqual([...MALFORMED, 'none'].map(() => null));
  });

  it('does not hold the response until the record is made: there is no span to put it on', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { app, audit, records } = setup({ identify: () => gate.then(() => alice) });
    app.get('/payments', audit.action('search_payments'), (c) => c.json([]));
    expect((await app.request('/payments', as())).status).toBe(200);
    release();
    expect((await records(1)).map((r) => r.action_type)).toEqual(['search_payments']);
  });
});
