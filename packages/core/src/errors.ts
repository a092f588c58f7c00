/** Stable codes of runtime failures; configuration mistakes throw `TypeError` at setup instead. */
export const AUDIT_ERROR_CODES = [
  'invalid_record',
  'queue_full',
  'closed',
  'store_failed',
  'hook_failed',
] as const;

export type AuditErrorCode = (typeof AUDIT_ERROR_CODES)[number];

/**
 * The one error class of runtime failures. `code` is stable and meant for
 * programs; `message` is for people; `cause` holds the underlying error.
 */
export class AuditError extends Error {
  override readonly name = 'AuditError';
  readonly code: AuditErrorCode;
  /** How many records the failure concerns, where it concerns records. */
  readonly records: number;

  constructor(code: AuditErrorCode, message: string, options: { cause?: unknown; records?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.records = options.records ?? 0;
  }
}

/** The error categories of the Retrieve Audit Data endpoint, PaymentsOS style. */
export const API_ERROR_CATEGORIES = [
  'api_request_error',
  'api_authentication_error',
  'api_authorization_error',
  'api_error',
] as const;

export type ApiErrorCategory = (typeof API_ERROR_CATEGORIES)[number];

/** The JSON body of every error answer: `{ category, description, more_info }`. */
export interface ApiErrorBody {
  category: ApiErrorCategory;
  description: string;
  more_info: string;
}

/** An error answer of the endpoint, carried as a value until it becomes a `Response`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 503,
    readonly category: ApiErrorCategory,
    readonly description: string,
    readonly moreInfo: string,
  ) {
    super(description);
  }

  /** The body in the contract's error format. */
  toJSON(): ApiErrorBody {
    return { category: this.category, description: this.description, more_info: this.moreInfo };
  }
}

/** Builds a PaymentsOS-style JSON error `Response`. */
export function apiErrorResponse(error: ApiError, headers?: HeadersInit): Response {
  const out = new Headers(headers);
  out.set('content-type', 'application/json; charset=utf-8');
  out.set('cache-control', 'no-store');
  return new Response(JSON.stringify(error.toJSON()), { status: error.status, headers: out });
}

/** Turns anything thrown into an `Error`, so that `cause` chains stay readable. */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
