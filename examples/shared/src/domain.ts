import type { ApiErrorBody } from '@audit-trail/core';
import { z } from 'zod';
import { DEMO_USERS } from './demo-auth.ts';

/** An error answer of the demo API, in the PaymentsOS format. */
export class DemoError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.description);
  }
}

export const newPaymentSchema = z.strictObject({
  amount: z.number().int().positive(),
  currency: z.string().regex(/^[A-Za-z]{3}$/),
});

type Json = Record<string, unknown>;
type Created = Json & { id: string };

/** An object before and after an update (`before` `null`: it did not exist). */
export interface Update {
  before: Json | null;
  after: Json;
}

export interface Payment {
  id: string;
  amount: number;
  currency: string;
  status: 'initialized' | 'charged' | 'captured' | 'refunded' | 'voided';
  created: string;
}

function invalid(description: string, moreInfo: string): DemoError {
  return new DemoError(400, { category: 'api_request_error', description, more_info: moreInfo });
}

function notFound(kind: string, id: string, param: string): DemoError {
  return new DemoError(404, { category: 'api_request_error', description: `no ${kind} with id "${id}"`, more_info: param });
}

/** A JSON object body, or a 400. */
export function objectBody(body: unknown): Json {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid('the body must be a JSON object', 'body');
  }
  return body as Json;
}

/**
 * The demo's in-memory PaymentsOS-like state, one space per account.
 * Framework-free, so that the Express and Hono examples behave alike.
 */
export class DemoDomain {
  private readonly accounts = new Map<string, { payments: Map<string, Payment>; objects: Map<string, Json>; permissions: Map<string, Json> }>();
  private counter = 0;

  private space(accountId: string) {
    let space = this.accounts.get(accountId);
    if (!space) this.accounts.set(accountId, (space = { payments: new Map(), objects: new Map(), permissions: new Map() }));
    return space;
  }

  private nextId(prefix: string): string {
    this.counter += 1;
    return `${prefix}_${Date.now().toString(36)}${this.counter.toString(36).padStart(4, '0')}`;
  }

  createPayment(accountId: string, body: unknown): Payment {
    const parsed = newPaymentSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = String(issue.path[0] ?? 'body');
      throw invalid(
        issue.code === 'unrecognized_keys'
          ? `unknown field "${issue.keys[0]}"`
          : `${field}: ${field === 'amount' ? 'must be a positive integer' : field === 'currency' ? 'must be 3 letters' : issue.message}`,
        issue.code === 'unrecognized_keys' ? issue.keys[0]! : field,
      );
    }
    const payment: Payment = {
      id: this.nextId('pay'),
      amount: parsed.data.amount,
      currency: parsed.data.currency.toUpperCase(),
      status: 'initialized',
      created: new Date().toISOString(),
    };
    this.space(accountId).payments.set(payment.id, payment);
    return payment;
  }

  searchPayments(accountId: string): Payment[] {
    return [...this.space(accountId).payments.values()];
  }

  getPayment(accountId: string, paymentId: string): Payment {
    const payment = this.space(accountId).payments.get(paymentId);
    if (!payment) throw notFound('payment', paymentId, 'payment_id');
    return payment;
  }

  /** A charge, capture, refund or void on an existing payment. */
  paymentOperation(accountId: string, paymentId: string, kind: 'charge' | 'capture' | 'refund' | 'void', body: unknown): Created {
    const payment = this.getPayment(accountId, paymentId);
    const fields = objectBody(body ?? {});
    payment.status = ({ charge: 'charged', capture: 'captured', refund: 'refunded', void: 'voided' } as const)[kind];
    return { ...fields, id: this.nextId(kind), payment_id: payment.id, type: kind, created: new Date().toISOString() };
  }

  /** Creates a free-form object (customer, token, app, …) and returns it with its new id. */
  create(accountId: string, prefix: string, body: unknown, extra: Json = {}): Created {
    const object = { ...objectBody(body ?? {}), ...extra, id: this.nextId(prefix), created: new Date().toISOString() };
    this.space(accountId).objects.set(object.id, object);
    return object;
  }

  /** Reads a free-form object of a kind, or a 404 naming `param`. */
  get(accountId: string, prefix: string, id: string, param: string): Json {
    const object = this.space(accountId).objects.get(id);
    if (!object || !id.startsWith(`${prefix}_`)) throw notFound(prefix, id, param);
    return object;
  }

  /** Updates a free-form object of a kind, or a 404 naming `param`: the object before and after, for the record's changes. */
  update(accountId: string, prefix: string, id: string, param: string, body: unknown): Update {
    const before = this.get(accountId, prefix, id, param);
    const after = { ...before, ...objectBody(body ?? {}), id, updated: new Date().toISOString() };
    this.space(accountId).objects.set(id, after);
    return { before, after };
  }

  /** Changes the permissions of a user of the account, or a 404 naming `user_id`: the permissions before and after. */
  setPermissions(accountId: string, userId: string, body: unknown): Update {
    const known = Object.values(DEMO_USERS).some((u) => u.user.id === userId && u.account_id === accountId);
    if (!known) throw notFound('user', userId, 'user_id');
    const permissions = this.space(accountId).permissions;
    const before = permissions.get(userId) ?? null;
    const after = { ...(before ?? {}), ...objectBody(body ?? {}), user_id: userId, updated: new Date().toISOString() };
    permissions.set(userId, after);
    return { before, after };
  }

  /** Deletes an object of a kind, or a 404 naming `param`: the object deleted, for the record's changes. */
  remove(accountId: string, prefix: string, id: string, param: string): Json {
    const before = this.get(accountId, prefix, id, param);
    this.space(accountId).objects.delete(id);
    return before;
  }
}
