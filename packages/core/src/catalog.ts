/**
 * An action catalog maps each action type to the resource it acts on
 * ("is created in", in PaymentsOS terms). Catalogs are plain frozen objects so
 * that their keys become a string-literal union: an action type that is not in
 * the catalog is a compile error wherever an action is named.
 */
export type Catalog = Readonly<Record<string, string>>;

/** The action types of a catalog, as a string-literal union. */
export type ActionTypeOf<C extends Catalog> = Extract<keyof C, string>;

/** The resource that an action type of catalog `C` acts on. */
export type ResourceOf<C extends Catalog, A extends ActionTypeOf<C>> = C[A];

/** Reading the audit trail is itself audited (PCI DSS 10.2.1.3). */
export const RETRIEVE_AUDIT_DATA = 'retrieve_audit_data';

const auditReadEntry = { [RETRIEVE_AUDIT_DATA]: 'audit' } as const;

/** Every catalog carries the `retrieve_audit_data` action of the Retrieve Audit Data endpoint. */
export type WithAuditRead<C extends Catalog> = C & typeof auditReadEntry;

const ACTION_TYPE_PATTERN = /^[a-z][a-z0-9_]*$/;
const RESOURCE_PATTERN = /^[a-z][a-z0-9_]*$/;

/**
 * Defines an app's own catalog. `retrieve_audit_data` is always added, since
 * reads of the trail are audited whatever the app's actions are.
 *
 * @example
 * const catalog = defineCatalog({ approve_invoice: 'invoice', export_ledger: 'ledger' });
 * type Action = ActionTypeOf<typeof catalog>; // 'approve_invoice' | 'export_ledger' | 'retrieve_audit_data'
 */
export function defineCatalog<const C extends Record<string, string>>(entries: C): Readonly<WithAuditRead<C>> {
  for (const [action, resource] of Object.entries(entries)) {
    if (!ACTION_TYPE_PATTERN.test(action)) {
      throw new TypeError(`defineCatalog: action type "${action}" must be snake_case ([a-z][a-z0-9_]*)`);
    }
    if (typeof resource !== 'string' || !RESOURCE_PATTERN.test(resource)) {
      throw new TypeError(`defineCatalog: resource of "${action}" must be snake_case ([a-z][a-z0-9_]*)`);
    }
  }
  const existing = (entries as Record<string, string>)[RETRIEVE_AUDIT_DATA];
  if (existing !== undefined && existing !== 'audit') {
    throw new TypeError(`defineCatalog: "${RETRIEVE_AUDIT_DATA}" is reserved for reads of the audit trail (resource "audit")`);
  }
  return Object.freeze({ ...entries, ...auditReadEntry });
}

/**
 * Extends a catalog with more actions. An entry that redefines an existing
 * action's resource is rejected: records already stored would change meaning.
 *
 * @example
 * const catalog = extendCatalog(paymentsOsCatalog, { export_ledger: 'ledger' });
 */
export function extendCatalog<const B extends Catalog, const E extends Record<string, string>>(
  base: B,
  extension: E,
): Readonly<WithAuditRead<B & E>> {
  for (const [action, resource] of Object.entries(extension)) {
    const current = base[action];
    if (current !== undefined && current !== resource) {
      throw new TypeError(
        `extendCatalog: "${action}" already acts on "${current}" and cannot be redefined as "${resource}"`,
      );
    }
  }
  return defineCatalog({ ...base, ...extension }) as Readonly<WithAuditRead<B & E>>;
}

/** Whether `value` is an action type of `catalog`. */
export function isActionType<C extends Catalog>(catalog: C, value: unknown): value is ActionTypeOf<C> {
  return typeof value === 'string' && Object.hasOwn(catalog, value);
}

/**
 * The PaymentsOS catalog (README, "The action catalog"), the default. The source lists
 * `update_webhook_configuration` as created in itself; that is a typo there,
 * and the catalog uses `webhook_configuration` like its siblings.
 */
export const paymentsOsCatalog = defineCatalog({
  activate_account: 'activations',
  capture: 'payment',
  charge: 'payment',
  create_business_unit: 'app',
  create_customer: 'customer',
  create_decision_engine_flow: 'flow',
  create_payment: 'payment',
  create_payment_method: 'payment_method',
  create_provider_configuration: 'processor_configuration',
  create_report_template: 'template',
  create_token: 'token',
  create_webhook_configuration: 'webhook_configuration',
  deactivate_decision_engine_flow: 'flow',
  delete_webhook_configuration: 'webhook_configuration',
  generate_report: 'report',
  get_customer: 'customer',
  get_payment: 'payment',
  get_payment_methods: 'payment',
  invite_user: 'user',
  refund: 'payment',
  replace_authentication_keys: 'app',
  search_payments: 'payment',
  update_business_unit: 'app',
  update_provider_configuration: 'processor_configuration',
  update_user_permissions: 'user',
  update_webhook_configuration: 'webhook_configuration',
  user_accepts_invite: 'user',
  void: 'payment',
});

/** The catalog type of the PaymentsOS default. */
export type PaymentsOsCatalog = typeof paymentsOsCatalog;

/** An action type of the PaymentsOS catalog. */
export type PaymentsOsActionType = ActionTypeOf<PaymentsOsCatalog>;
