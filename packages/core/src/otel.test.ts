import {
  context,
  metrics,
  propagation,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
  type Context,
  type MeterProvider as ApiMeterProvider,
  type Span,
  type TextMapGetter,
  type TextMapPropagator,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader, type HistogramMetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAuditApi } from './audit-api.ts';
import { createAuditor, type ActionInput } from './auditor.ts';
import { createAuditContext, recordRequest, recordRequestDurably, addRequestEvent, type RequestFacts } from './http.ts';
import { memoryStore } from './memory-store.ts';
import {
  activeSpan,
  addAuditEvent,
  AUDIT_EVENT_NAME,
  AUDIT_METER_NAME,
  AUDIT_METRICS,
  auditEventAttributes,
  requestTrace,
} from './otel.ts';
import type { Store } from './store.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE}-${SPAN}-01`;

/** Malformed per W3C Trace Context: each must give no trace, whatever the path. */
const MALFORMED: [string, string][] = [
  ['version ff', `ff-${TRACE}-${SPAN}-01`],
  ['short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
  ['long trace id', `00-${TRACE}0-${SPAN}-01`],
  ['short span id', `00-${TRACE}-${SPAN.slice(1)}-01`],
  ['long span id', `00-${TRACE}-${SPAN}0-01`],
  ['short flags', `00-${TRACE}-${SPAN}-1`],
  ['uppercase trace id', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
  ['uppercase span id', `00-${TRACE}-${SPAN.toUpperCase()}-01`],
  ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
  ['all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
  ['version 00 with an extra field', `${TRACEPARENT}-extra`],
  ['garbage', 'garbage'],
];

afterEach(() => {
  trace.disable();
  context.disable();
  propagation.disable();
  metrics.disable();
  vi.restoreAllMocks();
});

/** An SDK as an app sets it up: a tracer provider exporting to memory, and AsyncLocalStorage context. */
function registerTracing(options: { sampled?: boolean } = {}) {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    ...(options.sampled === false ? { sampler: new AlwaysOffSampler() } : {}),
  });
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
  expect(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())).toBe(true);
  return { exporter, tracer: trace.getTracer('test') };
}

/** A propagator of a single `x-trace: <trace>/<span>` header: proves the registered propagator is asked first. */
class SingleHeaderPropagator implements TextMapPropagator {
  inject(): void {}
  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const value = getter.get(carrier, 'x-trace');
    const [traceId, spanId] = (Array.isArray(value) ? value[0] : value)?.split('/') ?? [];
    if (!traceId || !spanId) return ctx;
    return trace.setSpanContext(ctx, { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
  }
  fields(): string[] {
    return ['x-trace'];
  }
}

/** An object that counts every property read: proves that nothing was built from it. */
function counting<T extends object>(target: T): { value: T; reads: () => number } {
  let reads = 0;
  const value = new Proxy(target, {
    get(object, key, receiver) {
      reads++;
      return Reflect.get(object, key, receiver);
    },
  });
  return { value, reads: () => reads };
}

const refund: ActionInput = {
  action_type: 'refund',
  resource_id: 'pay_123',
  user: { id: 'usr_alice', email: 'alice@example.com' },
  account_id: 'acc_1',
  outcome: 'success',
  status_code: 201,
  request: { method: 'POST', path: '/payments/pay_123/refunds', route: '/payments/:payment_id/refunds' },
};

const REFUND_ATTRIBUTES = {
  'audit.action_type': 'refund',
  'audit.resource': 'payment',
  'audit.resource_id': 'pay_123',
  'audit.outcome': 'success',
  'enduser.id': 'usr_alice',
  'user.id': 'usr_alice',
  'http.route': '/payments/:payment_id/refunds',
  'http.response.status_code': 201,
};

describe('requestTrace without an SDK: the traceparent header, parsed directly', () => {
  it('reads a valid traceparent from Web headers and from Node headers', () => {
    expect(activeSpan()).toBeUndefined();
    expect(requestTrace(new Headers({ traceparent: TRACEPARENT }))).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(requestTrace({ traceparent: TRACEPARENT })).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(requestTrace({ traceparent: [TRACEPARENT] })).toEqual({ trace_id: TRACE, span_id: SPAN });
  });

  it('is null without a traceparent', () => {
    expect(requestTrace(new Headers())).toBeNull();
    expect(requestTrace({})).toBeNull();
    expect(requestTrace({ traceparent: undefined })).toBeNull();
  });

  it.each(MALFORMED)('is null for a %s', (_name, traceparent) => {
    expect(requestTrace(new Headers({ traceparent }))).toBeNull();
    expect(requestTrace({ traceparent })).toBeNull();
  });
});

describe('requestTrace with a registered propagator and no active span', () => {
  it('takes the caller trace the W3C propagator extracts', () => {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const extract = vi.spyOn(propagation, 'extract');
    expect(requestTrace(new Headers({ traceparent: TRACEPARENT }))).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(requestTrace({ traceparent: TRACEPARENT })).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(extract).toHaveBeenCalledTimes(2);
  });

  it.each(MALFORMED)('is null for a %s', (_name, traceparent) => {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    expect(requestTrace(new Headers({ traceparent }))).toBeNull();
    expect(requestTrace({ traceparent })).toBeNull();
  });

  it('asks the propagator before parsing traceparent, whatever headers it reads', () => {
    propagation.setGlobalPropagator(new SingleHeaderPropagator());
    const other = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const headers = { 'x-trace': `${other}/bbbbbbbbbbbbbbbb`, traceparent: TRACEPARENT };
    expect(requestTrace(new Headers(headers))).toEqual({ trace_id: other, span_id: 'bbbbbbbbbbbbbbbb' });
    expect(requestTrace(headers)).toEqual({ trace_id: other, span_id: 'bbbbbbbbbbbbbbbb' });
    // Nothing for the propagator: the traceparent still counts.
    expect(requestTrace({ traceparent: TRACEPARENT })).toEqual({ trace_id: TRACE, span_id: SPAN });
  });

  it('stores the ids in lowercase, as the record schema wants, and ignores invalid ones', () => {
    propagation.setGlobalPropagator(new SingleHeaderPropagator());
    expect(requestTrace({ 'x-trace': `${TRACE.toUpperCase()}/${SPAN.toUpperCase()}` })).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(requestTrace({ 'x-trace': `${'0'.repeat(32)}/${SPAN}` })).toBeNull();
    expect(requestTrace({ 'x-trace': 'xyz/abc' })).toBeNull();
  });

  it('falls back to traceparent when the propagator throws', () => {
    propagation.setGlobalPropagator({
      inject() {},
      extract() {
        throw new Error('broken propagator');
      },
      fields: () => [],
    });
    expect(requestTrace({ traceparent: TRACEPARENT })).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(requestTrace(new Headers())).toBeNull();
  });
});

describe('requestTrace with an SDK and a context manager: the active span', () => {
  it('takes the ids of the span active when the request entered, not the caller ones', () => {
    const { tracer } = registerTracing();
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const parent = propagation.extract(ROOT_CONTEXT, { traceparent: TRACEPARENT });
    const server = tracer.startSpan('GET /x', {}, parent);
    const captured = context.with(trace.setSpan(context.active(), server), () => activeSpan());
    expect(captured).toBe(server);
    const ids = requestTrace({ traceparent: TRACEPARENT }, captured);
    // The same trace as the caller, and the server span's own id.
    expect(ids).toEqual({ trace_id: TRACE, span_id: server.spanContext().spanId });
    expect(ids!.span_id).not.toBe(SPAN);
    server.end();
  });

  it('takes the ids of a sampled-out span too: correlation does not need recording', () => {
    const { tracer } = registerTracing({ sampled: false });
    const span = tracer.startSpan('GET /x');
    expect(span.isRecording()).toBe(false);
    expect(requestTrace(new Headers(), span)).toEqual({ trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId });
  });

  it('falls back to the headers when the span has no valid context', () => {
    expect(requestTrace({ traceparent: TRACEPARENT }, trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 }))).toEqual({
      trace_id: TRACE,
      span_id: SPAN,
    });
  });
});

describe('addAuditEvent', () => {
  it('adds the action to a recording span with semantic-convention attributes', () => {
    const { exporter, tracer } = registerTracing();
    const span = tracer.startSpan('POST /payments/:payment_id/refunds');
    addAuditEvent(span, refund, 'payment');
    span.end();
    const [finished] = exporter.getFinishedSpans();
    expect(finished!.events).toHaveLength(1);
    expect(finished!.events[0]!.name).toBe(AUDIT_EVENT_NAME);
    expect(finished!.events[0]!.attributes).toEqual(REFUND_ATTRIBUTES);
  });

  it('leaves unknown values out and derives the outcome from the status', () => {
    expect(auditEventAttributes({ action_type: 'search_payments', user: { id: 'usr_bob' }, status_code: 404 }, undefined)).toEqual({
      'audit.action_type': 'search_payments',
      'audit.outcome': 'failure',
      'enduser.id': 'usr_bob',
      'user.id': 'usr_bob',
      'http.response.status_code': 404,
    });
    expect(auditEventAttributes({ action_type: 'generate_report', user: { id: 'usr_cron' } }, 'report')).toEqual({
      'audit.action_type': 'generate_report',
      'audit.resource': 'report',
      'audit.outcome': 'success',
      'enduser.id': 'usr_cron',
      'user.id': 'usr_cron',
    });
  });

  it('builds nothing without an SDK: no span, or a span that does not record', () => {
    const input = counting(refund);
    addAuditEvent(undefined, input.value, 'payment');
    addAuditEvent(activeSpan(), input.value, 'payment');
    const noop = trace.wrapSpanContext({ traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.SAMPLED });
    const addEvent = vi.spyOn(noop, 'addEvent');
    addAuditEvent(noop, input.value, 'payment');
    expect(input.reads()).toBe(0);
    expect(addEvent).not.toHaveBeenCalled();
  });

  it('builds nothing for a sampled-out span, nor for one that has ended', () => {
    const { exporter, tracer } = registerTracing({ sampled: false });
    const input = counting(refund);
    addAuditEvent(tracer.startSpan('sampled out'), input.value, 'payment');
    trace.disable();
    context.disable();
    const recording = registerTracing();
    const ended = recording.tracer.startSpan('ended');
    ended.end();
    addAuditEvent(ended, input.value, 'payment');
    expect(input.reads()).toBe(0);
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(recording.exporter.getFinishedSpans()[0]!.events).toEqual([]);
  });
});

describe('the request helpers add the event where the adapters ask for it', () => {
  const facts = (span: Span | undefined, status = 201): RequestFacts => ({
    method: 'POST',
    path: '/payments/pay_123/refunds',
    route: '/payments/:payment_id/refunds',
    ip: null,
    user_agent: null,
    request_id: null,
    trace: null,
    span,
    status,
    aborted: false,
    error: false,
    completed_at: new Date(),
  });
  const actor = { user: { id: 'usr_alice' }, account_id: 'acc_1' };
  const refundContext = () => ({ ...createAuditContext(), action: 'refund', resourceId: 'pay_123' });

  it('recordRequest records and adds the event; addRequestEvent only adds it', async () => {
    const { exporter, tracer } = registerTracing();
    const auditor = createAuditor({ store: memoryStore(), flushIntervalMs: 1 });
    const span = tracer.startSpan('server');
    recordRequest(auditor, refundContext(), actor, facts(span));
    addRequestEvent(auditor, refundContext(), actor, facts(span, 200));
    span.end();
    await auditor.flush();
    expect(auditor.stats().written).toBe(1);
    const events = exporter.getFinishedSpans()[0]!.events;
    expect(events.map((e) => e.attributes!['http.response.status_code'])).toEqual([201, 200]);
    expect(events[0]!.attributes).toMatchObject({ 'audit.action_type': 'refund', 'audit.resource': 'payment', 'enduser.id': 'usr_alice' });
  });

  it('recordRequestDurably adds the event only once the record is stored', async () => {
    const { exporter, tracer } = registerTracing();
    const failing: Store = { ...memoryStore(), append: () => Promise.reject(new Error('down')) };
    const stored = createAuditor({ store: memoryStore(), flushIntervalMs: 1 });
    const refused = createAuditor({ store: failing, flushIntervalMs: 1, retry: false, onError: () => {} });
    const span = tracer.startSpan('server');
    expect(await recordRequestDurably(stored, refundContext(), actor, facts(span))).toBe(true);
    expect(await recordRequestDurably(refused, refundContext(), actor, facts(span, 200))).toBe(false);
    span.end();
    expect(exporter.getFinishedSpans()[0]!.events.map((e) => e.attributes!['http.response.status_code'])).toEqual([201]);
  });

  it('builds nothing when the span does not record', () => {
    const auditContext = counting(refundContext());
    addRequestEvent(createAuditor({ store: memoryStore() }), auditContext.value, actor, facts(undefined));
    addRequestEvent(createAuditor({ store: memoryStore() }), auditContext.value, actor, facts(trace.wrapSpanContext({ traceId: TRACE, spanId: SPAN, traceFlags: 1 })));
    expect(auditContext.reads()).toBe(0);
  });
});

describe('the Retrieve Audit Data endpoint', () => {
  it('records reads with the active span ids and adds them to the span', async () => {
    const { exporter, tracer } = registerTracing();
    const store = memoryStore();
    const auditor = createAuditor({ store, flushIntervalMs: 1 });
    const api = createAuditApi({ auditor, authorize: () => true });
    const alice = { user: { id: 'usr_alice' }, account_id: 'acc_1' };
    await tracer.startActiveSpan('GET /audit', async (span) => {
      const response = await api.handle(new Request('http://x.test/audit', { headers: { traceparent: TRACEPARENT } }), { actor: alice, route: '/audit' });
      expect(response.status).toBe(200);
      span.end();
    });
    await auditor.flush();
    const [read] = await store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 10 });
    const [span] = exporter.getFinishedSpans();
    expect(read!.trace).toEqual({ trace_id: span!.spanContext().traceId, span_id: span!.spanContext().spanId });
    expect(span!.events.map((e) => e.attributes)).toEqual([
      {
        'audit.action_type': 'retrieve_audit_data',
        'audit.resource': 'audit',
        'audit.outcome': 'success',
        'enduser.id': 'usr_alice',
        'user.id': 'usr_alice',
        'http.route': '/audit',
        'http.response.status_code': 200,
      },
    ]);
  });
});

/** A reader the test collects from on demand. */
class TestReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

describe('auditor metrics', () => {
  async function collect(reader: TestReader) {
    const { resourceMetrics } = await reader.collect();
    const scope = resourceMetrics.scopeMetrics.find((s) => s.scope.name === AUDIT_METER_NAME);
    return new Map((scope?.metrics ?? []).map((m) => [m.descriptor.name, m]));
  }

  it('counts written, dropped and failed records and times store writes', async () => {
    const reader = new TestReader();
    // The SDK is typed against its own copy of the API (1.9), core against 1.10: the same interface.
    const provider = new MeterProvider({ readers: [reader] }) as unknown as ApiMeterProvider;
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    let fail = false;
    const base = memoryStore();
    const store: Store = { ...base, append: (records) => (fail ? Promise.reject(new Error('down')) : base.append(records)) };
    const auditor = createAuditor({ store, flushIntervalMs: 1, maxQueueSize: 2, retry: false, onError: () => {} });
    const action = { action_type: 'refund' as const, user: { id: 'usr_alice' }, account_id: 'acc_1' };
    auditor.tryRecord(action);
    auditor.tryRecord(action);
    auditor.tryRecord(action); // queue full: dropped
    await auditor.flush();
    fail = true;
    auditor.tryRecord(action);
    await auditor.flush();
    await auditor.close();
    auditor.tryRecord(action); // closed: dropped

    const collected = await collect(reader);
    const sum = (name: string) => (collected.get(name) as SumMetricData | undefined)?.dataPoints.map((p) => [p.attributes, p.value]);
    expect(sum(AUDIT_METRICS.written)).toEqual([[{}, 2]]);
    expect(sum(AUDIT_METRICS.failed)).toEqual([[{ 'error.type': 'store_failed' }, 1]]);
    expect(sum(AUDIT_METRICS.dropped)).toEqual([
      [{ 'error.type': 'queue_full' }, 1],
      [{ 'error.type': 'closed' }, 1],
    ]);
    expect(collected.get(AUDIT_METRICS.written)!.descriptor.unit).toBe('{record}');
    const duration = collected.get(AUDIT_METRICS.writeDuration) as HistogramMetricData;
    expect(duration.descriptor.unit).toBe('s');
    const points = duration.dataPoints.map((p) => [p.attributes, p.value.count]);
    expect(points).toEqual([
      [{}, 1],
      [{ 'error.type': 'store_failed' }, 1],
    ]);
    expect(auditor.stats()).toMatchObject({ written: 2, failed: 1, dropped: 2 });
  });

  it('creates its instruments once per auditor, not per record', async () => {
    const add = vi.fn();
    const record = vi.fn();
    const meter = {
      createCounter: vi.fn(() => ({ add })),
      createHistogram: vi.fn(() => ({ record })),
    };
    const getMeter = vi.spyOn(metrics, 'getMeter').mockReturnValue(meter as never);
    const auditor = createAuditor({ store: memoryStore(), flushIntervalMs: 1 });
    for (let i = 0; i < 50; i++) auditor.tryRecord({ action_type: 'refund', user: { id: 'usr_alice' }, account_id: 'acc_1' });
    await auditor.flush();
    expect(getMeter).toHaveBeenCalledTimes(1);
    expect(getMeter).toHaveBeenCalledWith(AUDIT_METER_NAME);
    expect(meter.createCounter).toHaveBeenCalledTimes(3);
    expect(meter.createHistogram).toHaveBeenCalledTimes(1);
    // One write of one batch: one count, one duration.
    expect(add).toHaveBeenCalledTimes(1);
    expect(add).toHaveBeenCalledWith(50);
    expect(record).toHaveBeenCalledTimes(1);
  });

  it('is the API no-op without an SDK', async () => {
    const auditor = createAuditor({ store: memoryStore(), flushIntervalMs: 1 });
    auditor.tryRecord({ action_type: 'refund', user: { id: 'usr_alice' }, account_id: 'acc_1' });
    await auditor.flush();
    expect(auditor.stats().written).toBe(1);
  });
});
