import type { PaymentsOsCatalog, RouteMap } from '@audit-trail/core';

/**
 * The payment routes of both examples, named declaratively (the other routes
 * name their action inline with `audit.action`, to show both ways).
 */
export const PAYMENT_ROUTES = {
  'POST /payments': 'create_payment',
  'GET /payments': 'search_payments',
  'GET /payments/:payment_id': { action: 'get_payment', resourceId: 'payment_id' },
  'POST /payments/:payment_id/charges': { action: 'charge', resourceId: 'payment_id' },
  'POST /payments/:payment_id/captures': { action: 'capture', resourceId: 'payment_id' },
  'POST /payments/:payment_id/refunds': { action: 'refund', resourceId: 'payment_id' },
  'POST /payments/:payment_id/voids': { action: 'void', resourceId: 'payment_id' },
} as const satisfies RouteMap<PaymentsOsCatalog>;

/** The operations on a payment: the path segment under `/payments/:payment_id/` and the operation's kind. */
export const PAYMENT_OPERATIONS = [
  ['charges', 'charge'],
  ['captures', 'capture'],
  ['refunds', 'refund'],
  ['voids', 'void'],
] as const;
