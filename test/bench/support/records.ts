import { paymentsOsCatalog, type AuditRecord } from '@audit-trail/core';
import { auditRecordSchema, newRecordId } from '@audit-trail/core/store';

/** The action types the synthetic records spread over (11, coprime with the other spreads). */
export const ACTIONS = [
  'refund',
  'charge',
  'capture',
  'void',
  'create_payment',
  'get_payment',
  'create_customer',
  'get_customer',
  'create_token',
  'invite_user',
  'generate_report',
] as const satisfies readonly (keyof typeof paymentsOsCatalog)[];

/** The resource of each of `ACTIONS`, from the catalog. */
export const RESOURCES: readonly string[] = ACTIONS.map((action) => paymentsOsCatalog[action]);

/**
 * Valid records as the HTTP adapters make them (request facts, a trace, small
 * details), with fresh ids and `created` of now: for store writes. Spread over
 * 20 accounts, 53 users and the 11 `ACTIONS`.
 */
export function writeRecords(count: number, start: number): AuditRecord[] {
  const now = Date.now();
  const created = new Date(now).toISOString();
  const records: AuditRecord[] = new Array(count);
  for (let k = 0; k < count; k++) {
    const i = start + k;
    const action = i % ACTIONS.length;
    const resourceId = `pay_${(i % 5003).toString(36)}`;
    records[k] = {
      id: newRecordId(now),
      created,
      action_type: ACTIONS[action]!,
      resource: RESOURCES[action]!,
      resource_id: resourceId,
      user: { id: `usr_${i % 53}`, email: `user${i % 53}@example.com` },
      account_id: `acc_${i % 20}`,
      app_id: `app_${i % 3}`,
      outcome: i % 20 === 0 ? 'failure' : 'success',
      status_code: i % 20 === 0 ? 402 : 201,
      request: {
        method: 'POST',
        path: `/payments/${resourceId}/refunds`,
        route: '/payments/:payment_id/refunds',
        ip: `10.0.${(i >> 8) & 255}.${i & 255}`,
        user_agent: 'Mozilla/5.0 (bench) audit-trail/1.0',
        request_id: `req_${i}`,
      },
      trace: { trace_id: i.toString(16).padStart(32, '0'), span_id: i.toString(16).padStart(16, '0') },
      details: { request_body: { amount: i % 10_000, currency: 'USD', reason: 'requested_by_customer' } },
      changes: null,
    };
  }
  // The records must be ones core would hand a store.
  if (count > 0) auditRecordSchema.parse(records[0]);
  return records;
}

/**
 * The query dataset: record `g` of `n`, the same in SQLite (built here) and in
 * PostgreSQL (built by {@link POSTGRES_DATASET_INSERT}). 90% of the records
 * belong to `acc_big`, the account queried; the rest to `acc_other`. Actions
 * cycle through 11, users through 53, 30 s apart from 2025-01-01.
 */
export const DATASET = Object.freeze({
  account: 'acc_big',
  start: Date.UTC(2025, 0, 1),
  stepMs: 30_000,
  /** The action_type filter: 1 record in 11. */
  action: 'refund',
  /** The user_id filter: 1 record in 53. */
  user: 'usr_07',
});

/** The id of dataset record `g`: `aud_`, 12 hex digits of its time, 14 of `g` (hex digits are Crockford base32 digits). */
function datasetId(time: number, g: number): string {
  return `aud_${time.toString(16).toUpperCase().padStart(12, '0')}${g.toString(16).toUpperCase().padStart(14, '0')}`;
}

/** The columns of the SQLite table the dataset fills, in the order of {@link sqliteDatasetRow}. */
export const SQLITE_DATASET_COLUMNS = [
  'id',
  'account_id',
  'created',
  'action_type',
  'resource',
  'resource_id',
  'user_id',
  'user_email',
  'app_id',
  'outcome',
  'status_code',
  'request_method',
  'request_path',
  'request_route',
  'request_ip',
  'request_user_agent',
  'request_id',
  'trace_id',
  'span_id',
  'details',
] as const;

/** Dataset record `g` as a row of the SQLite store's table. */
export function sqliteDatasetRow(g: number): (string | number | null)[] {
  const time = DATASET.start + g * DATASET.stepMs;
  const action = g % ACTIONS.length;
  const user = `usr_${String(g % 53).padStart(2, '0')}`;
  const failed = g % 20 === 0;
  return [
    datasetId(time, g),
    g % 10 === 9 ? 'acc_other' : DATASET.account,
    new Date(time).toISOString(),
    ACTIONS[action]!,
    RESOURCES[action]!,
    `pay_${g % 5003}`,
    user,
    `${user}@example.com`,
    `app_${g % 3}`,
    failed ? 'failure' : 'success',
    failed ? 402 : 201,
    'POST',
    `/payments/pay_${g % 5003}/refunds`,
    '/payments/:payment_id/refunds',
    `10.0.0.${g % 250}`,
    'bench/1.0',
    `req_${g}`,
    g.toString(16).padStart(32, '0'),
    g.toString(16).padStart(16, '0'),
    `{"amount":${g % 10_000},"currency":"USD"}`,
  ];
}

/**
 * The same records generated inside PostgreSQL, for the columns of the
 * PostgreSQL store's table. Parameters: `$1` ACTIONS, `$2` RESOURCES, `$3`
 * first `g`, `$4` last `g`; `%TABLE%` is replaced by the qualified table.
 */
export const POSTGRES_DATASET_INSERT = `
  INSERT INTO %TABLE% (id, account_id, created, action_type, resource, resource_id, user_id, user_email, app_id,
    outcome, status_code, request, trace_id, span_id, details)
  SELECT
    'aud_' || upper(lpad(to_hex(t), 12, '0')) || upper(lpad(to_hex(g), 14, '0')),
    CASE WHEN g % 10 = 9 THEN 'acc_other' ELSE '${DATASET.account}' END,
    timestamptz 'epoch' + t * interval '1 millisecond',
    ($1::text[])[1 + g % 11],
    ($2::text[])[1 + g % 11],
    'pay_' || (g % 5003),
    'usr_' || lpad((g % 53)::text, 2, '0'),
    'usr_' || lpad((g % 53)::text, 2, '0') || '@example.com',
    'app_' || (g % 3),
    CASE WHEN g % 20 = 0 THEN 'failure' ELSE 'success' END,
    CASE WHEN g % 20 = 0 THEN 402 ELSE 201 END,
    jsonb_build_object('method', 'POST', 'path', '/payments/pay_' || (g % 5003) || '/refunds', 'route', '/payments/:payment_id/refunds',
      'ip', '10.0.0.' || (g % 250), 'user_agent', 'bench/1.0', 'request_id', 'req_' || g),
    lpad(to_hex(g), 32, '0'),
    lpad(to_hex(g), 16, '0'),
    jsonb_build_object('amount', g % 10000, 'currency', 'USD')
  FROM generate_series($3::bigint, $4::bigint) AS g, LATERAL (SELECT ${DATASET.start}::bigint + g * ${DATASET.stepMs} AS t) AS times
`;
