import { describe, expect, it } from 'vitest';
import { createAuditor, type AuditActor } from '../auditor.ts';
import type { AuditError } from '../errors.ts';
import { memoryStore } from '../memory-store.ts';
import { checkAdapterOptions, createAdapterKit, tagAction, taggedAction } from './kit.ts';
import { headerValue, joinRoute, pathOfUrl, templateParam, trimTrailingSlash } from './paths.ts';

const alice: AuditActor = { user: { id: 'usr_alice' }, account_id: 'acc_1' };

function kitFor(identify: () => AuditActor | null | Promise<AuditActor | null> = () => alice) {
  const errors: AuditError[] = [];
  const auditor = createAuditor({ store: memoryStore(), onError: (e) => errors.push(e) });
  let identified = 0;
  const kit = createAdapterKit(
    { auditor, routes: { 'GET /payments/:payment_id': { action: 'get_payment', resourceId: 'payment_id' } } },
    {
      identify: () => (identified++, identify()),
      appId: () => 'app_h',
      requestId: () => 'req_1',
      ip: () => '127.0.0.1',
    },
  );
  return { kit, errors, identified: () => identified };
}

describe('adapter paths', () => {
  it('reads headers of both kinds, trims and joins routes, and reads a parameter against its template', () => {
    expect(headerValue({ 'x-a': ['1', '2'] }, 'x-a')).toBe('1');
    expect(headerValue(new Headers({ 'x-a': '3' }), 'x-a')).toBe('3');
    expect(headerValue({}, 'x-a')).toBeNull();
    expect(trimTrailingSlash('/customers/')).toBe('/customers');
    expect(trimTrailingSlash('/')).toBe('/');
    expect(joinRoute('/audit', '/')).toBe('/audit');
    expect(joinRoute('', '/')).toBe('/');
    expect(joinRoute('/audit/', '/:id')).toBe('/audit/:id');
    expect(pathOfUrl('http://h/a%20b?x=1')).toBe('/a%20b');
    expect(templateParam('/apps/:app_id/keys', '/apps/app%201/keys', 'app_id')).toBe('app 1');
    expect(templateParam('/apps/:app_id/keys', '/apps/app_1', 'app_id')).toBeNull();
  });
});

describe('createAdapterKit', () => {
  it('enters a request with the route map’s action, and checks audit.action() arguments at setup', () => {
    const { kit } = kitFor();
    expect(kit.enter('GET', '/payments/pay_1')).toMatchObject({ action: 'get_payment', resourceId: 'pay_1', route: '/payments/:payment_id' });
    expect(kit.enter('POST', '/payments/pay_1').action).toBeNull();
    expect(() => kit.declareAction('refnd' as never)).toThrow(/"refnd" is not in the catalog/);
    expect(() => kit.declareAction('refund', { resourceId: 42 as never })).toThrow(/resourceId/);
  });

  it('asks identify once per request, synchronously for a synchronous hook, and adds the app id', () => {
    const { kit, identified } = kitFor();
    const context = kit.enter('GET', '/payments/pay_1');
    expect(kit.actor({}, context)).toEqual({ ...alice, app_id: 'app_h' });
    kit.actor({}, context);
    expect(identified()).toBe(1);
  });

  it('completes the facts, and a throwing identify counts as unauthenticated, reported', async () => {
    const { kit, errors } = kitFor(() => {
      throw new Error('down');
    });
    const context = kit.enter('GET', '/payments/pay_1');
    const facts = { request_id: null, ip: null } as never as Parameters<typeof kit.complete>[2];
    expect(await kit.complete({}, context, facts)).toBeNull();
    expect(facts).toMatchObject({ request_id: 'req_1', ip: '127.0.0.1' });
    expect(errors.map((e) => e.code)).toEqual(['hook_failed']);
  });

  it('records synchronously when every hook answers synchronously, and keeps the kit state out of the context', () => {
    const { kit } = kitFor();
    const context = kit.enter('GET', '/payments/pay_1');
    const facts = { method: 'GET', path: '/payments/pay_1', route: null, ip: null, user_agent: null, request_id: null, trace: null, status: 200, aborted: false, error: false, completed_at: new Date() };
    expect(kit.record({}, context, facts)).toBeUndefined();
    expect(kit.auditor.stats().queued).toBe(1);
    expect(facts).toMatchObject({ request_id: 'req_1', ip: '127.0.0.1' });
    expect(Object.keys(context).sort()).toEqual(['action', 'changes', 'details', 'resourceId', 'route']);
    expect(JSON.parse(JSON.stringify(context))).toEqual({ action: 'get_payment', resourceId: 'pay_1', details: {}, changes: null, route: '/payments/:payment_id' });
  });

  it('awaits only the hook that returns a promise, and works on a context it did not create', async () => {
    const { kit, identified } = kitFor(async () => alice);
    const context = { action: 'refund', resourceId: null, details: {}, changes: null, route: null };
    kit.applyAction(context, kit.declareAction('refund', { resourceId: 'payment_id' }), { route: '/payments/:payment_id/refunds', path: '/payments/pay_9/refunds', param: { payment_id: ['a', 'b'] } });
    expect(kit.isNamed(context)).toBe(true);
    expect(context.resourceId).toBe('a/b');
    const facts = { method: 'POST', path: '/payments/pay_9/refunds', route: null, ip: null, user_agent: null, request_id: null, trace: null, status: 201, aborted: false, error: false, completed_at: new Date() };
    const pending = kit.record({}, context, facts);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect(kit.auditor.stats().queued).toBe(1);
    expect(identified()).toBe(1);
  });

  it('tags handlers with their declared action', () => {
    const { kit } = kitFor();
    const declaration = kit.declareAction('refund', { resourceId: 'payment_id' });
    const handler = tagAction(() => {}, declaration);
    expect(taggedAction(handler)).toBe(declaration);
    expect(taggedAction(() => {})).toBeNull();
  });

  it('names the adapter and the option in configuration errors', () => {
    expect(() => checkAdapterOptions('fooAudit', {})).toThrow('fooAudit: auditor is required');
    expect(() => checkAdapterOptions('fooAudit', { auditor: {}, identify: 1 })).toThrow('fooAudit: identify must be a function');
    expect(() => checkAdapterOptions('fooAudit', { auditor: {}, identify() {}, requestId: 'x' })).toThrow('fooAudit: requestId must be a function');
  });
});
