import { boundChanges, define, pathKeys } from './changes.ts';
import type { AuditChanges, JsonValue } from './record.ts';

const encoder = new TextEncoder();

/** What replaces a redacted value. */
export const REDACTED = '[REDACTED]';

/**
 * Key fragments whose values are secrets wherever they appear in a key
 * (compared without case, `_`, `-` or spaces: `API-Key`, `api_key` and `apiKey` match `apikey`).
 */
export const DEFAULT_SECRET_KEY_FRAGMENTS = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'authorization',
  'cookie',
  'apikey',
  'accesskey',
  'privatekey',
  'signature',
  'cardnumber',
  'creditcard',
  'securitycode',
  'cvv',
  'cvc',
] as const;

/** Keys that are secrets only when they are the whole key (too short to match inside others). */
export const DEFAULT_SECRET_KEYS = ['pan', 'pin', 'pwd', 'auth', 'sessionid', 'session', 'jwt', 'otp', 'ssn'] as const;

export interface RedactionOptions {
  /** More key fragments to treat as secrets (normalised like the defaults). */
  keys?: readonly string[];
  /** Replace the default key fragments and whole keys instead of adding to them. */
  replaceDefaultKeys?: boolean;
  /** Look inside string values for card numbers (Luhn-valid), bearer tokens and JWTs. Default `true`. */
  values?: boolean;
  /** What replaces a secret. Default `"[REDACTED]"`. */
  censor?: string;
  /** Largest serialised size of `details` (and of `changes`), in bytes, before it is cut with a visible marker. Default 16 KiB. */
  maxDetailsBytes?: number;
  /** Deepest nesting kept in `details`; deeper values become `"[Truncated]"`. Default 16. */
  maxDepth?: number;
}

/** A compiled redaction policy. */
export interface Redactor {
  /** Copies an app-supplied value into plain JSON with every secret replaced. */
  details(value: unknown): { [key: string]: JsonValue };
  /** Redacts secrets inside one captured text value (a path, a user agent, …). */
  text(value: string): string;
  /**
   * Redacts a record's `changes`: a change under a secret key stays listed,
   * with both sides censored; other values are redacted like `details` values.
   * Cut to the size bound with a visible marker.
   */
  changes(value: AuditChanges | null | undefined): AuditChanges | null;
}

/** A run of digit groups joined by single spaces or dashes, as card numbers are written. */
const DIGIT_RUN = /\d(?:[ -]?\d)*/g;
const BEARER = /\b(Bearer|Basic|Token)\s+[A-Za-z0-9\-._~+/]+=*/gi;
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;

/** Whether a string of digits passes the Luhn check. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Redacts every card number in a run of digit groups. A card number may share
 * its run with other groups (an expiry date, a CVV, a quantity before it), so
 * every span of whole groups holding 13–19 digits is checked, and each span
 * that passes Luhn is censored in full. Digits glued to a group make a longer
 * number, which is not a card number.
 */
function redactCardNumbers(run: string, censor: string): string {
  const groups = run.split(/[ -]/);
  const separators = run.match(/[ -]/g) ?? [];
  if (groups.join('').length < 13) return run;
  const covered = new Array<boolean>(groups.length).fill(false);
  // linked[i]: groups i and i + 1 lie in one card number, so one censor replaces both.
  const linked = new Array<boolean>(groups.length).fill(false);
  for (let start = 0; start < groups.length; start++) {
    let digits = '';
    for (let end = start; end < groups.length; end++) {
      digits += groups[end];
      if (digits.length > 19) break;
      if (digits.length >= 13 && passesLuhn(digits)) {
        for (let i = start; i <= end; i++) covered[i] = true;
        for (let i = start; i < end; i++) linked[i] = true;
      }
    }
  }
  if (!covered.includes(true)) return run;
  let out = '';
  for (let i = 0; i < groups.length; i++) {
    if (!covered[i]) out += groups[i];
    else if (i === 0 || !linked[i - 1]) out += censor;
    if (i < separators.length && !linked[i]) out += separators[i];
  }
  return out;
}

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[\s_\-.]/g, '');
}

/**
 * Compiles a redaction policy. Secrets are found by key (at any depth) and,
 * unless `values: false`, by value inside strings.
 *
 * @example
 * const redactor = createRedactor({ keys: ['iban'] });
 * redactor.details({ password: 'x', note: 'card 4111 1111 1111 1111' });
 * // { password: '[REDACTED]', note: 'card [REDACTED]' }
 */
export function createRedactor(options: RedactionOptions = {}): Redactor {
  const censor = options.censor ?? REDACTED;
  const maxBytes = options.maxDetailsBytes ?? 16 * 1024;
  const maxDepth = options.maxDepth ?? 16;
  if (!(Number.isInteger(maxBytes) && maxBytes >= 256)) {
    throw new TypeError('redaction.maxDetailsBytes must be an integer of at least 256');
  }
  const extra = (options.keys ?? []).map(normaliseKey).filter(Boolean);
  const fragments = options.replaceDefaultKeys ? extra : [...DEFAULT_SECRET_KEY_FRAGMENTS, ...extra];
  const whole = new Set<string>(options.replaceDefaultKeys ? [] : DEFAULT_SECRET_KEYS);
  const scanValues = options.values !== false;
  const keyCache = new Map<string, boolean>();

  const isSecretKey = (key: string): boolean => {
    let secret = keyCache.get(key);
    if (secret === undefined) {
      const k = normaliseKey(key);
      secret = whole.has(k) || fragments.some((f) => k.includes(f));
      if (keyCache.size < 10_000) keyCache.set(key, secret);
    }
    return secret;
  };

  const text = (value: string): string => {
    // No length shortcut: "Bearer x" is 8 characters long.
    if (!scanValues) return value;
    return value
      .replace(JWT, censor)
      .replace(BEARER, (_m, scheme: string) => `${scheme} ${censor}`)
      .replace(DIGIT_RUN, (run) => redactCardNumbers(run, censor));
  };

  const copy = (value: unknown, depth: number, seen: Set<object>): JsonValue => {
    switch (typeof value) {
      case 'string':
        return text(value);
      case 'number':
        return Number.isFinite(value) ? value : null;
      case 'boolean':
        return value;
      case 'bigint':
        return text(value.toString());
      case 'object':
        break;
      default:
        return null;
    }
    if (value === null) return null;
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    if (depth >= maxDepth) return '[Truncated]';
    if (seen.has(value)) return '[Circular]';
    seen.add(value);
    try {
      // Array.from, not map: holes of a sparse array become null, as in JSON.
      if (Array.isArray(value)) return Array.from(value, (item) => copy(item, depth + 1, seen));
      const out: { [key: string]: JsonValue } = {};
      for (const [key, item] of Object.entries(value)) {
        if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
        out[key] = isSecretKey(key) ? censor : copy(item, depth + 1, seen);
      }
      return out;
    } finally {
      seen.delete(value);
    }
  };

  const details = (value: unknown): { [key: string]: JsonValue } => {
    if (value === undefined || value === null) return {};
    const copied = copy(value, 0, new Set());
    const object: { [key: string]: JsonValue } =
      copied !== null && typeof copied === 'object' && !Array.isArray(copied) ? copied : { value: copied };
    const serialised = JSON.stringify(object);
    // A UTF-16 code unit is at most 3 bytes of UTF-8: short text needs no encoding to be measured.
    if (serialised.length * 3 <= maxBytes) return object;
    const bytes = encoder.encode(serialised).length;
    if (bytes <= maxBytes) return object;
    // Cut, never drop: keep a visible marker and as much of the text as fits.
    return {
      _truncated: true,
      _original_bytes: bytes,
      _preview: serialised.slice(0, Math.max(0, Math.floor(maxBytes / 4) - 64)),
    };
  };

  const changes = (value: AuditChanges | null | undefined): AuditChanges | null => {
    if (value === undefined || value === null) return null;
    const out: AuditChanges = {};
    for (const [path, change] of Object.entries(value)) {
      const secret = pathKeys(path).some(isSecretKey);
      define(out, path, secret ? { from: censor, to: censor } : { from: copy(change.from, 1, new Set()), to: copy(change.to, 1, new Set()) });
    }
    return boundChanges(out, maxBytes);
  };

  return { details, text, changes };
}
