import { describe, expect, expectTypeOf, it } from 'vitest';
import { createAuditor } from './auditor.ts';
import {
  defineCatalog,
  extendCatalog,
  isActionType,
  paymentsOsCatalog,
  RETRIEVE_AUDIT_DATA,
  type ActionTypeOf,
  type PaymentsOsActionType,
  type PaymentsOsCatalog,
  type ResourceOf,
} from './catalog.ts';
import { memoryStore } from './memory-store.ts';
import type { RouteMap } from './route-map.ts';

/** The README's action catalog, written out by hand: the catalog must match it entry for entry. */
const DOCUMENTED_CATALOG: ReadonlyArray<readonly [string, string]> = [
  ['activate_account', 'activations'],
  ['capture', 'payment'],
  ['charge', 'payment'],
  ['create_business_unit', 'app'],
  ['create_customer', 'customer'],
  ['create_decision_engine_flow', 'flow'],
  ['create_payment', 'payment'],
  ['create_payment_method', 'payment_method'],
  ['create_provider_configuration', 'processor_configuration'],
  ['create_report_template', 'template'],
  ['create_token', 'token'],
  ['create_webhook_configuration', 'webhook_configuration'],
  ['deactivate_decision_engine_flow', 'flow'],
  ['delete_webhook_configuration', 'webhook_configuration'],
  ['generate_report', 'report'],
  ['get_customer', 'customer'],
  ['get_payment', 'payment'],
  ['get_payment_methods', 'payment'],
  ['invite_user', 'user'],
  ['refund', 'payment'],
  ['replace_authentication_keys', 'app'],
  ['search_payments', 'payment'],
  ['update_business_unit', 'app'],
  ['update_provider_configuration', 'processor_configuration'],
  ['update_user_permissions', 'user'],
  ['update_webhook_configuration', 'webhook_configuration'],
  ['user_accepts_invite', 'user'],
  ['void', 'payment'],
  ['retrieve_audit_data', 'audit'],
];

const byKey = (a: readonly [string, string], b: readonly [string, string]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

describe('paymentsOsCatalog', () => {
  it('has exactly the 29 entries of the action catalog in the README', () => {
    expect(DOCUMENTED_CATALOG).toHaveLength(29);
    expect(Object.keys(paymentsOsCatalog)).toHaveLength(29);
    expect(Object.entries(paymentsOsCatalog).sort(byKey)).toEqual([...DOCUMENTED_CATALOG].sort(byKey));
  });

  it('says webhook_configuration for update_webhook_configuration (the source table has a typo)', () => {
    expect(paymentsOsCatalog.update_webhook_configuration).toBe('webhook_configuration');
  });

  it('carries retrieve_audit_data on the audit resource', () => {
    expect(RETRIEVE_AUDIT_DATA).toBe('retrieve_audit_data');
    expect(paymentsOsCatalog.retrieve_audit_data).toBe('audit');
  });

  it('is frozen', () => {
    expect(Object.isFrozen(paymentsOsCatalog)).toBe(true);
    expect(() => {
      (paymentsOsCatalog as Record<string, string>).refund = 'customer';
    }).toThrow(TypeError);
    expect(() => {
      (paymentsOsCatalog as Record<string, string>).new_action = 'x';
    }).toThrow(TypeError);
    expect(paymentsOsCatalog.refund).toBe('payment');
  });
});

describe('defineCatalog', () => {
  it('keeps the entries, adds retrieve_audit_data and freezes the result', () => {
    const catalog = defineCatalog({ approve_invoice: 'invoice', export_ledger: 'ledger' });
    expect({ ...catalog }).toEqual({ approve_invoice: 'invoice', export_ledger: 'ledger', retrieve_audit_data: 'audit' });
    expect(Object.isFrozen(catalog)).toBe(true);
  });

  it('accepts an explicit retrieve_audit_data on audit', () => {
    expect(defineCatalog({ retrieve_audit_data: 'audit', a: 'b' }).retrieve_audit_data).toBe('audit');
  });

  it('does not freeze or change the object it was given', () => {
    const entries = { approve_invoice: 'invoice' };
    defineCatalog(entries);
    expect(entries).toEqual({ approve_invoice: 'invoice' });
    expect(Object.isFrozen(entries)).toBe(false);
  });

  it.each(['Approve', 'approve-invoice', 'approve invoice', '1approve', '_approve', '', 'apprové'])(
    'rejects the action type %j, naming it',
    (action) => {
      expect(() => defineCatalog({ [action]: 'invoice' })).toThrow(TypeError);
      expect(() => defineCatalog({ [action]: 'invoice' })).toThrow(`"${action}"`);
    },
  );

  it.each(['Invoice', 'in-voice', '', '9invoice'])('rejects the resource %j, naming the action', (resource) => {
    expect(() => defineCatalog({ approve_invoice: resource })).toThrow(TypeError);
    expect(() => defineCatalog({ approve_invoice: resource })).toThrow(/"approve_invoice"/);
  });

  it('rejects a resource that is not a string', () => {
    expect(() => defineCatalog({ approve_invoice: 42 as unknown as string })).toThrow(TypeError);
    expect(() => defineCatalog({ approve_invoice: null as unknown as string })).toThrow(TypeError);
  });

  it('rejects retrieve_audit_data on another resource', () => {
    expect(() => defineCatalog({ retrieve_audit_data: 'ledger' })).toThrow(TypeError);
    expect(() => defineCatalog({ retrieve_audit_data: 'ledger' })).toThrow(/retrieve_audit_data/);
  });
});

describe('extendCatalog', () => {
  it('adds actions and keeps every base action', () => {
    const catalog = extendCatalog(paymentsOsCatalog, { export_ledger: 'ledger' });
    expect(catalog.export_ledger).toBe('ledger');
    expect(Object.keys(catalog)).toHaveLength(30);
    for (const [action, resource] of DOCUMENTED_CATALOG) expect(catalog[action as PaymentsOsActionType]).toBe(resource);
    expect(Object.isFrozen(catalog)).toBe(true);
  });

  it('does not change the base catalog', () => {
    extendCatalog(paymentsOsCatalog, { export_ledger: 'ledger' });
    expect(Object.hasOwn(paymentsOsCatalog, 'export_ledger')).toBe(false);
  });

  it('accepts an entry that repeats a base action with the same resource', () => {
    expect(extendCatalog(paymentsOsCatalog, { refund: 'payment' }).refund).toBe('payment');
  });

  it('rejects redefining a base action, naming action and both resources', () => {
    expect(() => extendCatalog(paymentsOsCatalog, { refund: 'customer' })).toThrow(TypeError);
    expect(() => extendCatalog(paymentsOsCatalog, { refund: 'customer' })).toThrow(/"refund".*"payment".*"customer"/);
    expect(() => extendCatalog(paymentsOsCatalog, { retrieve_audit_data: 'ledger' })).toThrow(TypeError);
  });

  it('validates the new entries like defineCatalog', () => {
    expect(() => extendCatalog(paymentsOsCatalog, { 'Export-Ledger': 'ledger' })).toThrow(TypeError);
    expect(() => extendCatalog(paymentsOsCatalog, { export_ledger: 'Ledger' })).toThrow(TypeError);
  });
});

describe('isActionType', () => {
  it('is true for every catalog action type', () => {
    for (const [action] of DOCUMENTED_CATALOG) expect(isActionType(paymentsOsCatalog, action)).toBe(true);
  });

  it.each(['refnd', 'REFUND', '', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf'])(
    'is false for %j',
    (value) => {
      expect(isActionType(paymentsOsCatalog, value)).toBe(false);
    },
  );

  it('is false for values that are not strings', () => {
    for (const value of [undefined, null, 1, {}, ['refund'], Symbol('refund')]) {
      expect(isActionType(paymentsOsCatalog, value)).toBe(false);
    }
  });
});

describe('types', () => {
  // These lines are checked by `tsc` (pnpm typecheck): each @ts-expect-error
  // fails the typecheck if its line ever stops being a compile error.
  it('makes an unknown action type a compile error', () => {
    const ok: ActionTypeOf<typeof paymentsOsCatalog> = 'refund';
    const read: PaymentsOsActionType = 'retrieve_audit_data';
    // @ts-expect-error 'refnd' is not an action type of the PaymentsOS catalog
    const typo: ActionTypeOf<typeof paymentsOsCatalog> = 'refnd';
    // @ts-expect-error action types are case-sensitive
    const upper: PaymentsOsActionType = 'REFUND';
    expect([ok, read, typo, upper]).toEqual(['refund', 'retrieve_audit_data', 'refnd', 'REFUND']);
  });

  it('derives the action types of defined and extended catalogs', () => {
    const custom = defineCatalog({ approve_invoice: 'invoice' });
    expectTypeOf<ActionTypeOf<typeof custom>>().toEqualTypeOf<'approve_invoice' | 'retrieve_audit_data'>();
    // @ts-expect-error refund is not in the custom catalog
    const notThere: ActionTypeOf<typeof custom> = 'refund';
    const extended = extendCatalog(paymentsOsCatalog, { export_ledger: 'ledger' });
    expectTypeOf<'export_ledger' | 'refund' | 'retrieve_audit_data'>().toExtend<ActionTypeOf<typeof extended>>();
    // @ts-expect-error 'export_ledgr' is not in the extended catalog
    const typo: ActionTypeOf<typeof extended> = 'export_ledgr';
    expect([notThere, typo]).toHaveLength(2);
  });

  it('derives the resource of an action type', () => {
    expectTypeOf<ResourceOf<PaymentsOsCatalog, 'refund'>>().toEqualTypeOf<'payment'>();
    expectTypeOf<ResourceOf<PaymentsOsCatalog, 'retrieve_audit_data'>>().toEqualTypeOf<'audit'>();
    // @ts-expect-error a refund acts on a payment, not a customer
    const wrong: ResourceOf<PaymentsOsCatalog, 'refund'> = 'customer';
    expect(wrong).toBe('customer');
  });

  it('makes a typo in a route map a compile error', () => {
    const routes = {
      'POST /payments': 'create_payment',
      'POST /payments/:payment_id/refunds': { action: 'refund', resourceId: 'payment_id' },
    } satisfies RouteMap<PaymentsOsCatalog>;
    const typoString = {
      // @ts-expect-error 'refnd' is not in the catalog
      'POST /payments/:payment_id/refunds': 'refnd',
    } satisfies RouteMap<PaymentsOsCatalog>;
    const typoObject = {
      // @ts-expect-error 'captur' is not in the catalog
      'POST /payments/:payment_id/captures': { action: 'captur', resourceId: 'payment_id' },
    } satisfies RouteMap<PaymentsOsCatalog>;
    const badMethod = {
      // @ts-expect-error FETCH is not an HTTP method of a route key
      'FETCH /payments': 'create_payment',
    } satisfies RouteMap<PaymentsOsCatalog>;
    expect([routes, typoString, typoObject, badMethod].map((m) => Object.keys(m).length)).toEqual([2, 1, 1, 1]);
  });

  it('makes a typo in auditor.record a compile error', () => {
    const auditor = createAuditor({ store: memoryStore(), onError: () => {} });
    const custom = createAuditor({ store: memoryStore(), catalog: defineCatalog({ approve_invoice: 'invoice' }), onError: () => {} });
    const record = (): unknown =>
      auditor.record({
        // @ts-expect-error 'refnd' is not an action type
        action_type: 'refnd',
        user: { id: 'usr_alice' },
      });
    const recordOther = (): unknown =>
      custom.record({
        // @ts-expect-error refund is not in this auditor's catalog
        action_type: 'refund',
        user: { id: 'usr_alice' },
      });
    // ...and the runtime check agrees with the compiler.
    expect(record).toThrow(/refnd/);
    expect(recordOther).toThrow(/refund/);
  });
});
