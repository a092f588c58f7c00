import { type AuditRecord, type AuditRequest, type AuditUser } from '@audit-trail/core';
import { auditRecordSchema, newRecordId } from '@audit-trail/core/store';

/** Fields to change in a {@link sampleRecord}; `user` and `request` are merged field by field. */
export interface SampleRecordOverrides extends Omit<Partial<AuditRecord>, 'user' | 'request'> {
  user?: Partial<AuditUser>;
  request?: Partial<AuditRequest>;
}

/**
 * A valid audit record for test data: a successful refund by Alice of
 * account `acc_acme`, with a fresh id and `created` now. Overrides replace
 * the defaults; `user` and `request` are merged with theirs, so
 * `{ user: { email: null } }` keeps the user id. Throws when the overrides
 * make a record that `auditRecordSchema` refuses, because no store ever
 * receives one.
 *
 * @example
 * const failed = sampleRecord({ outcome: 'failure', status_code: 404, account_id: 'acc_test' });
 * await store.append([failed]);
 */
export function sampleRecord(overrides: SampleRecordOverrides = {}): AuditRecord {
  const { user, request, ...fields } = overrides;
  const record: AuditRecord = {
    id: newRecordId(),
    created: new Date().toISOString(),
    action_type: 'refund',
    resource: 'payment',
    resource_id: 'pay_123',
    account_id: 'acc_acme',
    app_id: 'app_1',
    outcome: 'success',
    status_code: 201,
    trace: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' },
    details: {},
    changes: null,
    ...fields,
    user: { id: 'usr_alice', email: 'alice@example.com', ...user },
    request: {
      method: 'POST',
      path: '/payments/pay_123/refunds',
      route: '/payments/:payment_id/refunds',
      ip: '127.0.0.1',
      user_agent: 'curl/8.5',
      request_id: 'req_0001',
      ...request,
    },
  };
  const result = auditRecordSchema.safeParse(record);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new TypeError(`sampleRecord: the overrides make an invalid record (${problems.join('; ')})`);
  }
  return record;
}
