import { describe, expect, it } from 'vitest';
import { resolveAuditorOptions } from './auditor-options.ts';
import { paymentsOsCatalog } from './catalog.ts';
import { AuditError } from './errors.ts';
import { memoryStore } from './memory-store.ts';
import { auditorMetrics } from './otel.ts';
import type { AuditRecord } from './record.ts';
import { createRedactor } from './redact.ts';
import { createStamper } from './stamp.ts';
import type { Store } from './store.ts';
import { createWriteQueue } from './write-queue.ts';

const alice = { user: { id: 'usr_alice' }, account_id: 'acc_1' };

describe('resolveAuditorOptions', () => {
  it('defaults every option and freezes the result', () => {
    const config = resolveAuditorOptions({ store: memoryStore() });
    expect(config).toMatchObject({ batchSize: 100, flushIntervalMs: 20, maxQueueSize: 10_000, overflow: 'drop-newest', retries: 3, durableTimeoutMs: 5_000 });
    expect(config.catalog).toBe(paymentsOsCatalog);
    expect(config.redactor).not.toBeNull();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names the option that is wrong', () => {
    expect(() => resolveAuditorOptions({ store: memoryStore(), batchSize: 0 })).toThrow(/batchSize/);
    expect(() => resolveAuditorOptions({ store: memoryStore(), retry: { retries: -1 } })).toThrow(/retry\.retries/);
    expect(() => resolveAuditorOptions({ store: memoryStore(), overflow: 'drop-all' as never })).toThrow(/overflow/);
    expect(() => resolveAuditorOptions({ store: memoryStore(), requiredActions: ['nope' as never] })).toThrow(/requiredActions.*nope/);
  });

  it('guards onError: a throwing handler does not reach the caller', () => {
    const config = resolveAuditorOptions({
      store: memoryStore(),
      onError: () => {
        throw new Error('handler broke');
      },
    });
    expect(() => config.reportError(new AuditError('hook_failed', 'x'))).not.toThrow();
  });
});

describe('createStamper', () => {
  it('stamps id, created and resource, and redacts details', () => {
    const stamp = createStamper(paymentsOsCatalog, createRedactor({}));
    const record = stamp({ ...alice, action_type: 'refund', status_code: 404, details: { card_number: '4111111111111111' }, completed_at: new Date('2026-01-02T03:04:05Z') });
    expect(record).toMatchObject({ action_type: 'refund', resource: 'payment', outcome: 'failure', created: '2026-01-02T03:04:05.000Z' });
    expect(JSON.stringify(record.details)).not.toContain('4111111111111111');
  });

  it('throws invalid_record for an action outside the catalog or a bad time', () => {
    const stamp = createStamper(paymentsOsCatalog, null);
    expect(() => stamp({ ...alice, action_type: 'nope' })).toThrow(expect.objectContaining({ code: 'invalid_record' }));
    expect(() => stamp({ ...alice, action_type: 'refund', completed_at: new Date(Number.NaN) })).toThrow(expect.objectContaining({ code: 'invalid_record' }));
  });
});

describe('createWriteQueue', () => {
  const stamp = createStamper(paymentsOsCatalog, null);
  const record = (): AuditRecord => stamp({ ...alice, action_type: 'refund' });
  const config = (store: Store, errors: AuditError[] = []) => ({
    ...resolveAuditorOptions({ store, batchSize: 2, flushIntervalMs: 60_000, retry: false, onError: (e) => errors.push(e) }),
  });

  it('writes in batches of batchSize, in order, and settles awaited records', async () => {
    const batches: number[] = [];
    const inner = memoryStore();
    const store: Store = { ...inner, append: (records) => (batches.push(records.length), inner.append(records)) };
    const queue = createWriteQueue(config(store), auditorMetrics());
    const settled: (AuditError | null)[] = [];
    queue.enqueue(record());
    queue.enqueue(record());
    queue.enqueue(record(), (error) => settled.push(error));
    await queue.flush();
    expect(batches).toEqual([2, 1]);
    expect(settled).toEqual([null]);
    expect(queue.stats).toMatchObject({ queued: 0, written: 3 });
  });

  it('refuses records once closed, reporting them in aggregate', async () => {
    const errors: AuditError[] = [];
    const queue = createWriteQueue(config(memoryStore(), errors), auditorMetrics());
    queue.close();
    expect(() => queue.enqueue(record())).toThrow(expect.objectContaining({ code: 'closed' }));
    expect(queue.refusal('refund', false)).toMatchObject({ code: 'closed', records: 1 });
    expect(errors).toEqual([]);
    await queue.flush();
    expect(errors.map((e) => [e.code, e.records])).toEqual([['closed', 2]]);
    expect(queue.stats.dropped).toBe(2);
  });
});
