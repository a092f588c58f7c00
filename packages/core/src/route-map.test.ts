import { describe, expect, it } from 'vitest';
import { defineCatalog, paymentsOsCatalog, type PaymentsOsCatalog } from './catalog.ts';
import { compileRouteMap, type RouteMap } from './route-map.ts';

const routes = {
  'POST /payments': 'create_payment',
  'GET /payments': 'search_payments',
  'GET /payments/:payment_id': { action: 'get_payment', resourceId: 'payment_id' },
  'POST /payments/:payment_id/refunds': { action: 'refund', resourceId: 'payment_id' },
  'POST /payments/:payment_id/captures': { action: 'capture', resourceId: 'payment_id' },
  'GET /customers/:customer_id/payment-methods': { action: 'get_payment_methods', resourceId: 'customer_id' },
  'POST /users/invitations/:invitation_id/accept': { action: 'user_accepts_invite', resourceId: 'invitation_id' },
  'DELETE /webhooks/:webhook_id': { action: 'delete_webhook_configuration', resourceId: 'webhook_id' },
  'PATCH /apps/:app_id': { action: 'update_business_unit' },
} satisfies RouteMap<PaymentsOsCatalog>;

const match = compileRouteMap(routes, paymentsOsCatalog);

describe('compileRouteMap: matching', () => {
  it('matches a static route', () => {
    expect(match('POST', '/payments')).toEqual({ action_type: 'create_payment', route: '/payments', params: {}, resource_id: null });
    expect(match('GET', '/payments')).toEqual({ action_type: 'search_payments', route: '/payments', params: {}, resource_id: null });
  });

  it('matches parameters and takes the resource id from the named one', () => {
    expect(match('POST', '/payments/pay_123/refunds')).toEqual({
      action_type: 'refund',
      route: '/payments/:payment_id/refunds',
      params: { payment_id: 'pay_123' },
      resource_id: 'pay_123',
    });
    expect(match('POST', '/users/invitations/inv_9/accept')?.resource_id).toBe('inv_9');
    expect(match('DELETE', '/webhooks/wh_1')?.action_type).toBe('delete_webhook_configuration');
  });

  it('has no resource id for a route that names none', () => {
    expect(match('PATCH', '/apps/app_1')).toEqual({
      action_type: 'update_business_unit',
      route: '/apps/:app_id',
      params: { app_id: 'app_1' },
      resource_id: null,
    });
  });

  it('decodes parameters', () => {
    expect(match('GET', '/payments/pay%20123')?.params).toEqual({ payment_id: 'pay 123' });
    expect(match('GET', '/payments/caf%C3%A9')?.resource_id).toBe('café');
    expect(match('GET', '/payments/a%2Fb')?.resource_id).toBe('a/b');
  });

  it('keeps a parameter that is not valid percent-encoding as it is', () => {
    expect(match('GET', '/payments/%E0%A4%A')?.resource_id).toBe('%E0%A4%A');
    expect(match('GET', '/payments/100%')?.resource_id).toBe('100%');
  });

  it('is null for an unmapped method or path', () => {
    expect(match('PUT', '/payments')).toBeNull();
    expect(match('DELETE', '/payments/pay_1')).toBeNull();
    expect(match('GET', '/nope')).toBeNull();
    expect(match('GET', '/payments/pay_1/refunds')).toBeNull();
    expect(match('POST', '/payments/pay_1/refunds/extra')).toBeNull();
    expect(match('GET', '/')).toBeNull();
    expect(match('GET', '/PAYMENTS')).toBeNull();
  });

  it('takes the method without case', () => {
    expect(match('post', '/payments')?.action_type).toBe('create_payment');
  });

  it('serves HEAD with the GET route', () => {
    expect(match('HEAD', '/payments/pay_1')).toEqual({
      action_type: 'get_payment',
      route: '/payments/:payment_id',
      params: { payment_id: 'pay_1' },
      resource_id: 'pay_1',
    });
    expect(match('HEAD', '/payments/pay_1/refunds')).toBeNull(); // only GET routes serve HEAD
  });

  it('ignores a trailing slash', () => {
    expect(match('POST', '/payments/')?.action_type).toBe('create_payment');
    expect(match('POST', '/payments/pay_1/refunds/')?.resource_id).toBe('pay_1');
  });

  it('accepts templates written with a trailing slash', () => {
    const m = compileRouteMap({ 'POST /tokens/': 'create_token' }, paymentsOsCatalog);
    expect(m('POST', '/tokens')).toEqual({ action_type: 'create_token', route: '/tokens', params: {}, resource_id: null });
  });

  it('prefers a static segment over a parameter, whatever the order of the map', () => {
    const staticFirst = compileRouteMap(
      { 'GET /payments/search': 'search_payments', 'GET /payments/:payment_id': { action: 'get_payment', resourceId: 'payment_id' } },
      paymentsOsCatalog,
    );
    const paramFirst = compileRouteMap(
      { 'GET /payments/:payment_id': { action: 'get_payment', resourceId: 'payment_id' }, 'GET /payments/search': 'search_payments' },
      paymentsOsCatalog,
    );
    for (const m of [staticFirst, paramFirst]) {
      expect(m('GET', '/payments/search')?.action_type).toBe('search_payments');
      expect(m('GET', '/payments/pay_1')?.action_type).toBe('get_payment');
    }
  });

  it('works with a custom catalog', () => {
    const catalog = defineCatalog({ approve_invoice: 'invoice' });
    const m = compileRouteMap({ 'POST /invoices/:invoice_id/approve': { action: 'approve_invoice', resourceId: 'invoice_id' } }, catalog);
    expect(m('POST', '/invoices/inv_1/approve')).toMatchObject({ action_type: 'approve_invoice', resource_id: 'inv_1' });
  });
});

describe('compileRouteMap: configuration errors', () => {
  const compile = (map: Record<string, unknown>) => () => compileRouteMap(map as RouteMap<PaymentsOsCatalog>, paymentsOsCatalog);

  it.each(['POST/payments', 'POST', '/payments', 'FETCH /payments', 'POST payments', 'POST  /payments', ' POST /payments', ''])(
    'rejects the key %j, naming it',
    (key) => {
      expect(compile({ [key]: 'create_payment' })).toThrow(TypeError);
      expect(compile({ [key]: 'create_payment' })).toThrow(`"${key}"`);
    },
  );

  it('rejects an action that is not in the catalog, naming the key and the action', () => {
    expect(compile({ 'POST /refunds': 'refnd' })).toThrow(TypeError);
    expect(compile({ 'POST /refunds': 'refnd' })).toThrow(/"POST \/refunds".*"refnd"/);
    expect(compile({ 'POST /refunds': { action: 'refnd' } })).toThrow(/"refnd"/);
    expect(compile({ 'POST /refunds': { action: 'toString' } })).toThrow(TypeError);
    expect(compile({ 'POST /refunds': null })).toThrow(TypeError);
    expect(compile({ 'POST /refunds': {} })).toThrow(TypeError);
  });

  it('rejects a resourceId that is not a parameter of the path', () => {
    expect(compile({ 'POST /payments/:payment_id/refunds': { action: 'refund', resourceId: 'id' } })).toThrow(TypeError);
    expect(compile({ 'POST /payments/:payment_id/refunds': { action: 'refund', resourceId: 'id' } })).toThrow(/":id"/);
    // A static segment of that name is not a parameter.
    expect(compile({ 'POST /payments/refunds': { action: 'refund', resourceId: 'refunds' } })).toThrow(TypeError);
  });

  it('accepts every method of HTTP_METHODS, in any case', () => {
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'get']) {
      expect(compile({ [`${method} /payments`]: 'create_payment' })).not.toThrow();
    }
  });
});

describe('compileRouteMap without case sensitivity (as Express routes by default)', () => {
  it('matches static segments in any case and keeps parameters as given', () => {
    const match = compileRouteMap({ 'GET /Payments/:payment_id': { action: 'get_payment', resourceId: 'payment_id' } }, paymentsOsCatalog, {
      caseSensitive: false,
    });
    expect(match('GET', '/PAYMENTS/Pay_AbC')).toMatchObject({ action_type: 'get_payment', resource_id: 'Pay_AbC', route: '/Payments/:payment_id' });
    expect(match('get', '/payments/x')?.resource_id).toBe('x');
    const strict = compileRouteMap({ 'GET /payments/:payment_id': 'get_payment' }, paymentsOsCatalog);
    expect(strict('GET', '/PAYMENTS/x')).toBeNull();
  });

  it('folds text beyond ASCII as toLowerCase does, and treats repeated slashes as one', () => {
    const match = compileRouteMap({ 'GET /Café/:payment_id': { action: 'get_payment', resourceId: 'payment_id' } }, paymentsOsCatalog, {
      caseSensitive: false,
    });
    expect(match('GET', '/CAFÉ/p1')?.resource_id).toBe('p1');
    expect(match('GET', '/cafe/p1')).toBeNull();
    expect(match('GET', '//café//p%201/')?.resource_id).toBe('p 1');
    expect(match('GET', '/caf/p1')).toBeNull();
    expect(match('GET', '/cafés/p1')).toBeNull();
  });
});
