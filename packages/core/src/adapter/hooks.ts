import type { Auditor } from '../auditor.ts';
import type { Catalog } from '../catalog.ts';
import { AuditError, toError } from '../errors.ts';

/** A value, or a promise of it: what a hook the app wrote may return. */
export type MaybePromise<T> = T | Promise<T>;

/** Whether a value is a thenable (a promise or anything with a `then` method). */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/**
 * Continues with `next` once `value` is there: synchronously when it is a
 * plain value, after it resolves when it is a promise. Keeps synchronous
 * hooks synchronous, so that an adapter can act before its framework's next
 * step (a span that ends with the response head, say).
 */
export function andThen<T, U>(value: T | PromiseLike<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return isPromiseLike(value) ? Promise.resolve(value).then(next) : next(value);
}

/**
 * Runs an app hook so that it can never break the request: a throw or a
 * rejection is reported through `onError` as `hook_failed` and yields
 * `fallback`. A synchronous hook is answered synchronously; only a promise is
 * awaited.
 *
 * @example
 * const requestId = runHook(auditor, 'requestId', null, () => options.requestId(req));
 */
export function runHook<T, F = T>(
  auditor: Pick<Auditor<Catalog>, 'reportError'>,
  name: string,
  fallback: F,
  hook: () => T | PromiseLike<T>,
): MaybePromise<T | F> {
  const fail = (cause: unknown): F => {
    auditor.reportError(new AuditError('hook_failed', `${name} threw: ${toError(cause).message}`, { cause }));
    return fallback;
  };
  let value: T | PromiseLike<T>;
  try {
    value = hook();
  } catch (cause) {
    return fail(cause);
  }
  return isPromiseLike(value) ? Promise.resolve(value).then((settled) => settled, fail) : value;
}

/**
 * `runHook` without a closure: calls `hook(input)` so that it can never
 * break the request (a throw or a rejection is reported as `hook_failed` and
 * yields `fallback`). A value is returned as it is, synchronously; only a
 * thenable becomes a promise. What the kit calls once per request.
 *
 * @example
 * const requestId = callHook(auditor, 'requestId', null, hooks.requestId, input);
 */
export function callHook<I, T, F = T>(
  auditor: Pick<Auditor<Catalog>, 'reportError'>,
  name: string,
  fallback: F,
  hook: (input: I) => T | PromiseLike<T>,
  input: I,
): T | F | Promise<T | F> {
  let value: T | PromiseLike<T>;
  try {
    value = hook(input);
  } catch (cause) {
    return hookFailed(auditor, name, fallback, cause);
  }
  if (!isPromiseLike(value)) return value;
  return Promise.resolve(value).then(
    (settled) => settled,
    (cause: unknown) => hookFailed(auditor, name, fallback, cause),
  );
}

function hookFailed<F>(auditor: Pick<Auditor<Catalog>, 'reportError'>, name: string, fallback: F, cause: unknown): F {
  auditor.reportError(new AuditError('hook_failed', `${name} threw: ${toError(cause).message}`, { cause }));
  return fallback;
}
