import { boundChanges, define, pathKeys } from './changes.ts';
import { auditRecordSchema, type AuditChanges, type JsonValue } from './record.ts';

const encoder = new TextEncoder();

/** What replaces a redacted value. */
export const REDACTED = '[REDACTED]';

/**
 * Key fragments whose values are secrets wherever they appear in a key
 * (compared after NFKC normalisation, without case, separators or invisible
 * characters: `API-Key`, `api_key`, `apiKey` and `api\u200bkey` all match `apikey`).
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
  'credential',
] as const;

/** Keys that are secrets only when they are the whole key (too short to match inside others). */
export const DEFAULT_SECRET_KEYS = ['pan', 'pin', 'pwd', 'pass', 'auth', 'sessionid', 'session', 'jwt', 'otp', 'ssn', 'sid'] as const;

/**
 * Last words that make a key secret (`stripe_key`, `clientSecret`, `refresh-token`, `db_pass`):
 * a key is split into words at separators and camel-case humps.
 */
export const DEFAULT_SECRET_KEY_SUFFIXES = ['key', 'secret', 'token', 'pass', 'pwd', 'pin', 'password', 'passcode'] as const;

/** Keys that end like a secret but name something that is not one. */
const NOT_SECRET_KEYS = new Set(['idempotencykey', 'publickey', 'primarykey', 'sortkey', 'partitionkey', 'foreignkey', 'keypin']);

/** How card numbers are censored: whole, or keeping the first six and last four digits (PCI DSS 3.4.1). */
export type CardMasking = 'redact' | 'pan';

export interface RedactionOptions {
  /** More key fragments to treat as secrets (normalised like the defaults). */
  keys?: readonly string[];
  /** Replace the default key fragments, whole keys and suffixes instead of adding to them. */
  replaceDefaultKeys?: boolean;
  /** Look inside values for card numbers and well-known secret formats. Default `true`. */
  values?: boolean;
  /** What replaces a secret. Default `"[REDACTED]"`. */
  censor?: string;
  /**
   * `redact` (default) replaces a card number with the censor; `pan` keeps its
   * first six and last four digits and masks the rest with `*`.
   */
  cards?: CardMasking;
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
   * with both sides censored; other values (and the paths) are redacted like
   * `details`. Cut to the size bound with a visible marker.
   */
  changes(value: AuditChanges | null | undefined): AuditChanges | null;
  /**
   * The one pass over a whole record: every text field of the record schema
   * (see `RECORD_TEXT_FIELDS`), `details`, `changes` and any other field not
   * in the schema. Returns a redacted copy.
   */
  record<R extends object>(record: R): R;
}

// ---------------------------------------------------------------------------------------------------
// The record schema's fields
// ---------------------------------------------------------------------------------------------------

type SchemaNode = { _zod: { def: { type: string; innerType?: SchemaNode; shape?: Record<string, SchemaNode> }; bag?: Record<string, unknown> } };

/**
 * Text fields a secret cannot be in: the record id (made by the auditor from
 * a clock and random bits) and fields the schema confines to a closed format
 * (an ISO time, an enum, W3C hex).
 */
export const FORMAT_FIELDS: readonly string[] = ['id', 'created', 'outcome', 'trace.trace_id', 'trace.span_id'];

/** Every text field of a schema, as dotted paths, and the fields holding JSON (details, changes). */
export function schemaFields(schema: unknown): { text: string[]; json: string[] } {
  const text: string[] = [];
  const json: string[] = [];
  const walk = (node: SchemaNode, path: string): void => {
    const def = node._zod.def;
    if (def.type === 'nullable' || def.type === 'optional' || def.type === 'default') return walk(def.innerType!, path);
    if (def.type === 'object') {
      for (const [key, child] of Object.entries(def.shape!)) walk(child, path ? `${path}.${key}` : key);
    } else if (def.type === 'string') text.push(path);
    else if (def.type !== 'number' && def.type !== 'boolean' && def.type !== 'enum' && def.type !== 'int') json.push(path);
    else if (def.type === 'enum') text.push(path);
  };
  walk(schema as SchemaNode, '');
  return { text, json };
}

const RECORD_FIELDS = schemaFields(auditRecordSchema);
const TOP_LEVEL = new Set(Object.keys((auditRecordSchema as unknown as SchemaNode)._zod.def.shape!));

/** The record's text fields the redaction pass scans: every text field of the schema but `FORMAT_FIELDS`. */
export const RECORD_TEXT_FIELDS: readonly string[] = RECORD_FIELDS.text.filter((path) => !FORMAT_FIELDS.includes(path));

/** `RECORD_TEXT_FIELDS` split once into a top-level key and, for nested fields, the key inside it. */
const TEXT_FIELD_PATHS: readonly (readonly [string, string | null])[] = RECORD_TEXT_FIELDS.map((path) => {
  const dot = path.indexOf('.');
  return dot === -1 ? ([path, null] as const) : ([path.slice(0, dot), path.slice(dot + 1)] as const);
});
const JSON_FIELDS = new Set(RECORD_FIELDS.json);

/** Text up to this length that held no secret is remembered (see `text` in `createRedactor`)… */
const CLEAN_TEXT_LENGTH = 256;
/** …up to this many values. */
const CLEAN_TEXT_ENTRIES = 4096;

/** An object that `copy` would turn into `{}`: no enumerable key (not an array, a Date or a boxed value). */
function isEmptyObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) return false;
  for (const _key in value) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Card numbers
// ---------------------------------------------------------------------------------------------------

/** What may stand between the digit groups of a written card number (one or two of them). */
const SEP = String.raw`[\s\p{Zs}\p{Cf}\-\u2010-\u2015\u2212\uFE58\uFE63\uFF0D.\uFF0E_+/,\uFF0C]`;
const DIGIT_RUN = new RegExp(String.raw`\p{Nd}(?:${SEP}{0,2}\p{Nd})*`, 'gu');
const SEPARATORS = new RegExp(`(${SEP}+)`, 'u');
const ANY_DIGIT = /\p{Nd}/u;
const NON_ASCII_DIGIT = /[^\x00-\x7f]/;

const digitValues = new Map<number, number>();
/** The value of any Unicode decimal digit: Unicode keeps each script's 0–9 contiguous. */
function digitValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  let value = digitValues.get(code);
  if (value === undefined) {
    let start = code;
    while (/\p{Nd}/u.test(String.fromCodePoint(start - 1))) start--;
    value = (code - start) % 10;
    digitValues.set(code, value);
  }
  return value;
}

/** A run of Unicode decimal digits as ASCII digits. */
function asciiDigits(digits: string): string {
  if (!NON_ASCII_DIGIT.test(digits)) return digits;
  let out = '';
  for (const char of digits) out += String(digitValue(char.codePointAt(0)!));
  return out;
}

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
 * Whether digits begin with an issuer range of a card brand and have a length
 * the brand issues (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
 * Maestro, Mir, RuPay, UATP). This keeps epoch milliseconds (`17…`, 13 digits),
 * snowflake ids and other long numbers that happen to pass Luhn.
 */
export function hasCardIssuer(d: string): boolean {
  const n = d.length;
  if (n < 13 || n > 19) return false;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  switch (d[0]) {
    case '4': // Visa
    case '5': // Mastercard 51–55, Maestro 50 and 56–59
    case '6': // Discover, UnionPay, Maestro, RuPay 60
      return true;
    case '3':
      if (p2 === 34 || p2 === 37) return n === 15; // Amex
      if (p4 >= 3528 && p4 <= 3589) return n >= 16; // JCB
      return ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39) && n >= 14; // Diners
    case '2':
      return (p4 >= 2221 && p4 <= 2720 && n === 16) || (p4 >= 2200 && p4 <= 2204 && n >= 16); // Mastercard, Mir
    case '1':
      return n === 15; // UATP
    case '8':
      return (p2 === 81 || p2 === 82) && n === 16; // RuPay
    default:
      return false;
  }
}

/** Whether ASCII digits are a card number. */
export function isCardNumber(digits: string): boolean {
  return hasCardIssuer(digits) && passesLuhn(digits);
}

/**
 * Which digit groups lie in a card number: every span of whole groups holding
 * 13–19 digits is checked. `linked[i]` says groups i and i + 1 are in one card number.
 */
function coverCards(groups: readonly string[]): { covered: boolean[]; linked: boolean[] } | null {
  const covered = new Array<boolean>(groups.length).fill(false);
  const linked = new Array<boolean>(groups.length).fill(false);
  let found = false;
  for (let start = 0; start < groups.length; start++) {
    let digits = '';
    for (let end = start; end < groups.length; end++) {
      digits += groups[end];
      if (digits.length > 19) break;
      if (digits.length >= 13 && isCardNumber(digits)) {
        found = true;
        for (let i = start; i <= end; i++) covered[i] = true;
        for (let i = start; i < end; i++) linked[i] = true;
      }
    }
  }
  return found ? { covered, linked } : null;
}

// ---------------------------------------------------------------------------------------------------
// Well-known secret formats
// ---------------------------------------------------------------------------------------------------

/** Formats whose whole match is a secret. */
const TOKEN_FORMATS: readonly RegExp[] = [
  // PEM private keys, also when cut short.
  /-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)/g,
  /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, // JWT, JWS
  /(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])/g, // AWS access key id
  /(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})/g, // GitHub
  /(?<![A-Za-z0-9])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{16,}/g, // Stripe
  /(?<![A-Za-z0-9])xox[abposre]-[A-Za-z0-9-]{10,}|hooks\.slack\.com\/services\/[A-Za-z0-9/_-]+/g, // Slack
  /(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}/g, // Google API key
  /(?<![A-Za-z0-9])glpat-[A-Za-z0-9_-]{20,}/g, // GitLab
  /(?<![A-Za-z0-9])(?:xai|sk-(?:proj-|ant-)?)[A-Za-z0-9_-]{20,}/g, // OpenAI, Anthropic and similar API keys
];

/** An HTTP authorization scheme and its credentials, in any case and with `:`/`=`/space between. */
const AUTH_SCHEME = /\b(Bearer|Basic|Token|Digest|Negotiate)(\s*[:=]\s*|\s+)([A-Za-z0-9\-._~+/]+=*)/gi;
/** A base64-like value of 8 or more characters with a digit, `+`, `/`, `=` or a capital after the first character. */
const CREDENTIAL = /^(?=.{8})(?=.*[0-9+/=]|.+[A-Z])/;
const AUTH_SCHEME_NAME = /^(?:Bearer|Basic|Token|Digest|Negotiate)$/i;
/** `scheme://user:password@host`: the password. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/?#]*):([^\s@/?#]+)@/gi;
/** `name=value` and `name: value` pairs in text (query strings, headers, logs); the name decides. */
const KEY_VALUE = /([\p{L}\p{N}_.\-\u200B-\u200D\u2060\uFEFF]+)("?\s*[:=]\s*"?)([^\s"&;,]+)/gu;
const PERCENT_ESCAPE = /%[0-9a-f]{2}/i;
const NON_ASCII = /[^\x00-\x7f]/;
/** Text without one of these (in ASCII text) holds none of `TOKEN_FORMATS`. */
const TOKEN_TRIGGER = /eyJ|-----BEGIN|A(?:KIA|SIA|GPA|IDA|ROA|IPA|NPA|NVA|BIA|CCA|3T)|gh[pousr]_|github_pat_|_(?:live|test)_|whsec_|xox|hooks\.slack|AIza|glpat-|sk-|xai/;
const AUTH_TRIGGER = /bearer|basic|token|digest|negotiate/i;

function asciiDigitCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) count++;
  }
  return count;
}
/** Closed formats left alone by card detection: UUIDs and hex digests. */
const PROTECTED = /\b(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{128}|[0-9a-f]{64}|[0-9a-f]{40}|[0-9a-f]{32})\b/gi;

function normaliseKey(key: string): string {
  return key
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, '');
}

/** The words of a key, split at separators, invisible characters and camel-case humps. */
function keyWords(key: string): string[] {
  return key
    .normalize('NFKC')
    .replace(/\p{Cf}/gu, '')
    .replace(/(\p{Ll}|\p{N})(\p{Lu})/gu, '$1 $2')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/**
 * Compiles a redaction policy. Secrets are found by key (at any depth) and,
 * unless `values: false`, by value inside strings and numbers.
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
  const cards = options.cards ?? 'redact';
  if (cards !== 'redact' && cards !== 'pan') throw new TypeError('redaction.cards must be "redact" or "pan"');
  const extra = (options.keys ?? []).map(normaliseKey).filter(Boolean);
  const fragments = options.replaceDefaultKeys ? extra : [...DEFAULT_SECRET_KEY_FRAGMENTS, ...extra];
  const whole = new Set<string>(options.replaceDefaultKeys ? [] : DEFAULT_SECRET_KEYS);
  const suffixes = new Set<string>(options.replaceDefaultKeys ? [] : DEFAULT_SECRET_KEY_SUFFIXES);
  const scanValues = options.values !== false;
  const keyCache = new Map<string, boolean>();

  const isSecretKey = (key: string): boolean => {
    let secret = keyCache.get(key);
    if (secret === undefined) {
      const k = normaliseKey(key);
      const words = keyWords(key);
      secret =
        !NOT_SECRET_KEYS.has(k) &&
        (whole.has(k) || fragments.some((f) => k.includes(f)) || (words.length > 1 && suffixes.has(words.at(-1)!)) || words.includes('pass'));
      if (keyCache.size < 10_000) keyCache.set(key, secret);
    }
    return secret;
  };

  const maskCard = (digits: string): string =>
    cards === 'pan' ? `${digits.slice(0, 6)}${'*'.repeat(digits.length - 10)}${digits.slice(-4)}` : censor;

  /** Redacts every card number in a run of digit groups. Digits glued to a group make a longer number, not a card. */
  const redactRun = (run: string): string => {
    const parts = run.split(SEPARATORS);
    const groups: string[] = [];
    const separators: string[] = [];
    for (let i = 0; i < parts.length; i++) (i % 2 === 0 ? groups : separators).push(i % 2 === 0 ? asciiDigits(parts[i]!) : parts[i]!);
    if (groups.join('').length < 13) return run;
    const cover = coverCards(groups);
    if (!cover) return run;
    const { covered, linked } = cover;
    let out = '';
    let card = '';
    for (let i = 0; i < groups.length; i++) {
      if (!covered[i]) out += parts[2 * i];
      else {
        card += groups[i];
        if (!linked[i]) {
          out += maskCard(card);
          card = '';
        }
      }
      if (i < separators.length && !linked[i]) out += separators[i];
    }
    return out;
  };

  const redactCards = (value: string): string => {
    if (!PROTECTED.test(value)) return value.replace(DIGIT_RUN, redactRun);
    PROTECTED.lastIndex = 0;
    // Protected spans are kept whole; the text between them is scanned.
    let out = '';
    let last = 0;
    for (const match of value.matchAll(PROTECTED)) {
      out += value.slice(last, match.index).replace(DIGIT_RUN, redactRun) + match[0];
      last = match.index + match[0].length;
    }
    return out + value.slice(last).replace(DIGIT_RUN, redactRun);
  };

  /**
   * Every detector runs only when its cheap trigger is present: most captured
   * text (routes, ids, ordinary user agents) needs none of them.
   */
  const scan = (value: string): string => {
    const ascii = !NON_ASCII.test(value);
    let out = value;
    if (!ascii || TOKEN_TRIGGER.test(out)) for (const format of TOKEN_FORMATS) out = out.replace(format, censor);
    if (!ascii || out.includes('://')) out = out.replace(URL_CREDENTIALS, (_m, head: string) => `${head}:${censor}@`);
    if (!ascii || AUTH_TRIGGER.test(out)) {
      out = out.replace(AUTH_SCHEME, (match, scheme: string, between: string, credential: string) =>
        // "Bearer" always introduces a credential; "basic plan" or "token expired" are words, so other
        // schemes need a credential-like value after a space.
        /^bearer$/i.test(scheme) || !/^\s+$/.test(between) || CREDENTIAL.test(credential) ? `${scheme}${between}${censor}` : match,
      );
    }
    if (!ascii || out.includes('=') || out.includes(':')) {
      out = out.replace(KEY_VALUE, (match, key: string, between: string, secret: string) =>
        secret !== censor && !AUTH_SCHEME_NAME.test(secret) && isSecretKey(key) ? `${key}${between}${censor}` : match,
      );
    }
    return (ascii ? asciiDigitCount(out) >= 13 : ANY_DIGIT.test(out)) ? redactCards(out) : out;
  };

  const scanText = (value: string): string => {
    // No length shortcut: "Bearer x" is 8 characters long.
    if (!scanValues) return value;
    const out = scan(value);
    if (!PERCENT_ESCAPE.test(value)) return out;
    // Percent-encoding must not hide a secret (`4111%201111…`): when the decoded text holds one, it is stored decoded.
    let decoded: string;
    try {
      decoded = decodeURIComponent(value.replace(/\+/g, ' '));
    } catch {
      return out;
    }
    const scanned = scan(decoded);
    return scanned === decoded ? out : scanned;
  };

  /**
   * Short text found to hold no secret, remembered: most captured values
   * (methods, routes, user agents, user and account ids, addresses) recur
   * from request to request. Only text that came out unchanged is kept, so
   * the set never holds a secret; it is emptied when full.
   */
  const clean = new Set<string>();
  const text = (value: string): string => {
    if (!scanValues) return value;
    const cacheable = value.length <= CLEAN_TEXT_LENGTH;
    if (cacheable && clean.has(value)) return value;
    const out = scanText(value);
    if (cacheable && out === value) {
      if (clean.size >= CLEAN_TEXT_ENTRIES) clean.clear();
      clean.add(value);
    }
    return out;
  };

  /** A JSON number that is a card number (under any key) becomes a string. */
  const number = (value: number): JsonValue => {
    if (!Number.isFinite(value)) return null;
    if (!scanValues || !Number.isInteger(value) || value < 1e12 || value >= 1e19) return value;
    const digits = value.toFixed(0);
    return isCardNumber(digits) ? maskCard(digits) : value;
  };

  /** Array items that are digit groups of one card number (`["4111", "1111", …]`) are censored. */
  const redactSplitCards = (items: JsonValue[]): JsonValue[] => {
    let start = 0;
    while (start < items.length) {
      let end = start;
      const groups: string[] = [];
      while (end < items.length) {
        const item = items[end];
        const group = typeof item === 'number' && Number.isInteger(item) && item >= 0 ? String(item) : typeof item === 'string' ? item : null;
        if (group === null || !/^\p{Nd}{1,19}$/u.test(group)) break;
        groups.push(asciiDigits(group));
        end++;
      }
      if (groups.length > 1) {
        const cover = coverCards(groups);
        if (cover) for (let i = 0; i < groups.length; i++) if (cover.covered[i]) items[start + i] = censor;
      }
      start = end + 1;
    }
    return items;
  };

  const copy = (value: unknown, depth: number, seen: Set<object>): JsonValue => {
    switch (typeof value) {
      case 'string':
        return text(value);
      case 'number':
        return number(value);
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
      if (Array.isArray(value)) {
        // Array.from, not map: holes of a sparse array become null, as in JSON.
        const items = Array.from(value, (item) => copy(item, depth + 1, seen));
        return scanValues && items.length > 1 ? redactSplitCards(items) : items;
      }
      const out: { [key: string]: JsonValue } = {};
      for (const [key, item] of Object.entries(value)) {
        if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
        let name = text(key);
        // Two keys censored alike must not overwrite each other.
        for (let n = 2; name !== key && Object.hasOwn(out, name); n++) name = `${text(key)}#${n}`;
        out[name] = isSecretKey(key) ? censor : copy(item, depth + 1, seen);
      }
      return out;
    } finally {
      seen.delete(value);
    }
  };

  const details = (value: unknown): { [key: string]: JsonValue } => {
    if (value === undefined || value === null || (maxDepth > 0 && isEmptyObject(value))) return {};
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
      // A secret that changed stays recorded as changed; its values do not.
      const secret = pathKeys(path).some(isSecretKey);
      define(out, text(path), secret ? { from: censor, to: censor } : { from: copy(change.from, 1, new Set()), to: copy(change.to, 1, new Set()) });
    }
    return boundChanges(out, maxBytes);
  };

  const record = <R extends object>(input: R): R => {
    const out = { ...input } as Record<string, unknown>;
    for (const [parent, field] of TEXT_FIELD_PATHS) {
      if (field === null) {
        const value = out[parent];
        if (typeof value === 'string') out[parent] = text(value);
        continue;
      }
      const inner = out[parent];
      if (inner === null || typeof inner !== 'object') continue;
      const value = (inner as Record<string, unknown>)[field];
      if (typeof value !== 'string') continue;
      const redacted = text(value);
      if (redacted !== value) out[parent] = { ...(inner as object), [field]: redacted };
    }
    for (const key in out) {
      if (!Object.hasOwn(out, key)) continue;
      if (key === 'details') out.details = details(out.details);
      else if (key === 'changes') out.changes = changes(out.changes as AuditChanges | null | undefined);
      else if (!TOP_LEVEL.has(key) || JSON_FIELDS.has(key)) out[key] = copy(out[key], 0, new Set());
    }
    return out as R;
  };

  return { details, text, changes, record };
}
