import type { AuditChange, AuditChanges, JsonValue } from './record.ts';

/**
 * The path of the truncation marker: the last entry of a `changes` that was
 * cut, `{ from: null, to: "<n> more changes truncated" }`. A real key `…` is
 * written `\…`, so the marker cannot be mistaken for a change.
 */
export const TRUNCATED_CHANGES_PATH = '…';

/** The default bound of {@link diffChanges}: entries kept before the rest is counted in the marker. */
export const DEFAULT_MAX_CHANGES = 100;

export interface DiffChangesOptions {
  /** Entries kept; the rest are counted in one truncation marker entry. Default 100. */
  maxChanges?: number;
}

/** The truncation marker entry for `count` changes left out. */
export function truncationMarker(count: number): AuditChange {
  return { from: null, to: `${count} more change${count === 1 ? '' : 's'} truncated` };
}

/**
 * A key as one path segment: `.` and `\` escaped with `\`, and a key `…`
 * written `\…`, so that every path reads back to one list of keys.
 */
export function pathSegment(key: string): string {
  const escaped = key.replace(/[\\.]/g, '\\$&');
  return escaped === TRUNCATED_CHANGES_PATH ? `\\${escaped}` : escaped;
}

/** The keys of a path written by {@link diffChanges}: the inverse of joining {@link pathSegment}s with `.`. */
export function pathKeys(path: string): string[] {
  const keys: string[] = [];
  let key = '';
  for (let i = 0; i < path.length; i++) {
    const char = path[i]!;
    if (char === '\\' && i + 1 < path.length) key += path[++i];
    else if (char === '.') {
      keys.push(key);
      key = '';
    } else key += char;
  }
  keys.push(key);
  return keys;
}

type Container = JsonValue[] | { [key: string]: JsonValue };

/** Sets an own member, also for a key `__proto__` (which plain assignment would take as the prototype). */
export function define<T>(object: { [key: string]: T }, key: string, value: T): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * The value as plain JSON: `toJSON` applied (a `Date` becomes its ISO text),
 * `undefined`, functions and symbols left out of objects (and `null` in
 * arrays), non-finite numbers `null`, a bigint its decimal text, a cycle
 * `"[Circular]"`.
 */
function toJson(value: unknown, seen: Set<object>): JsonValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return null;
  }
  if (value === null) return null;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return toJson((value as { toJSON(): unknown }).toJSON(), seen);
  }
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return Array.from(value, (item) => toJson(item, seen));
    const out: { [key: string]: JsonValue } = {};
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
      define(out, key, toJson(item, seen));
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

const kindOf = (value: JsonValue): 'array' | 'object' | 'scalar' =>
  Array.isArray(value) ? 'array' : value !== null && typeof value === 'object' ? 'object' : 'scalar';

/** Structural equality of plain JSON values, with `null` members counting as absent. */
function sameJson(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  const kind = kindOf(a);
  if (kind !== kindOf(b) || kind === 'scalar') return false;
  if (kind === 'array') {
    const x = a as JsonValue[];
    const y = b as JsonValue[];
    const length = Math.max(x.length, y.length);
    for (let i = 0; i < length; i++) if (!sameJson(x[i] ?? null, y[i] ?? null)) return false;
    return true;
  }
  const x = a as { [key: string]: JsonValue };
  const y = b as { [key: string]: JsonValue };
  for (const key of new Set([...Object.keys(x), ...Object.keys(y)])) {
    if (!sameJson(Object.hasOwn(x, key) ? x[key]! : null, Object.hasOwn(y, key) ? y[key]! : null)) return false;
  }
  return true;
}

/** The members of a container as `[key, value]`, with array holes past the end as `null`. */
function member(container: Container, key: string): JsonValue {
  if (Array.isArray(container)) return container[Number(key)] ?? null;
  return Object.hasOwn(container, key) ? container[key]! : null;
}

function keysOf(a: Container, b: Container): string[] {
  if (Array.isArray(a) && Array.isArray(b)) {
    return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => String(i));
  }
  return [...new Set([...Object.keys(a), ...Object.keys(b)])];
}

/**
 * The changes between two JSON values, in the form of a record's `changes`:
 * one entry per changed value, keyed by its dot-separated path (`url`,
 * `retry.max_attempts`, `events.2`; array elements by index).
 *
 * - An added field has `from: null`, a removed one `to: null`; a field that
 *   is `null` counts as absent, so `null` → absent is no change.
 * - Where both sides hold an object (or both an array) the diff goes inside;
 *   anywhere else — a field added or removed whole, an object replaced by a
 *   text — the entry holds both values whole.
 * - `before` `null` (a create) lists every field of `after` with `from: null`;
 *   `after` `null` (a delete) lists every field of `before` with `to: null`.
 * - A key holding `.` or `\` has them escaped with `\` in its path.
 * - At most `maxChanges` entries (default 100) are kept; the rest are
 *   counted in a last entry `"…": { from: null, to: "<n> more changes truncated" }`.
 *
 * Values are read as JSON (`toJSON` applied: a `Date` is its ISO text).
 * Secrets are not this function's business: the auditor redacts `changes`
 * with the rest of the record, keeping a changed secret as
 * `{ from: "[REDACTED]", to: "[REDACTED]" }`.
 *
 * @example
 * diffChanges({ url: 'https://a.example/hook', events: ['a'] }, { url: 'https://b.example/hook', events: ['a', 'b'] });
 * // { url: { from: 'https://a.example/hook', to: 'https://b.example/hook' }, 'events.1': { from: null, to: 'b' } }
 * res.locals.audit.changes = diffChanges(before, after); // Express; Hono: c.get('audit').changes = …
 */
export function diffChanges(before: unknown, after: unknown, options: DiffChangesOptions = {}): AuditChanges {
  const max = options.maxChanges ?? DEFAULT_MAX_CHANGES;
  if (!(Number.isInteger(max) && max >= 1)) throw new TypeError('diffChanges: maxChanges must be an integer of at least 1');
  const from = toJson(before, new Set());
  const to = toJson(after, new Set());
  const changes: AuditChanges = {};
  let kept = 0;
  let left = 0;
  const add = (path: string, a: JsonValue, b: JsonValue) => {
    if (kept < max) {
      define(changes, path, { from: a, to: b });
      kept++;
    } else left++;
  };
  const walk = (prefix: string, a: Container, b: Container) => {
    for (const key of keysOf(a, b)) {
      const x = member(a, key);
      const y = member(b, key);
      if (sameJson(x, y)) continue;
      const path = prefix + pathSegment(key);
      const kind = kindOf(x);
      if (kind !== 'scalar' && kind === kindOf(y)) walk(`${path}.`, x as Container, y as Container);
      else add(path, x, y);
    }
  };
  // The root has no path: a missing or scalar side counts as an empty object, or array opposite one.
  const root = (value: JsonValue, other: JsonValue): Container =>
    kindOf(value) !== 'scalar' ? (value as Container) : Array.isArray(other) ? [] : {};
  walk('', root(from, to), root(to, from));
  if (left > 0) changes[TRUNCATED_CHANGES_PATH] = truncationMarker(left);
  return changes;
}

/** Whether a value has the shape of `changes`: an object of `{ from, to }` entries. */
export function isChangesShape(value: unknown): value is AuditChanges {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  for (const entry of Object.values(value)) {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || !('from' in entry) || !('to' in entry)) return false;
  }
  return true;
}

const encoder = new TextEncoder();
const MARKER_COUNT = /^(\d+) more changes? truncated$/;
/** Room kept for the marker entry when a `changes` is cut. */
const MARKER_BYTES = 64;

/**
 * `changes` cut to at most `maxBytes` of serialised JSON: entries are kept in
 * order while they fit, and the rest are counted in the truncation marker
 * (added to the count of a marker already there).
 */
export function boundChanges(changes: AuditChanges, maxBytes: number): AuditChanges {
  const serialised = JSON.stringify(changes);
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short text needs no encoding to be measured.
  if (serialised.length * 3 <= maxBytes || encoder.encode(serialised).length <= maxBytes) return changes;
  const out: AuditChanges = {};
  let used = 2 + MARKER_BYTES;
  let left = 0;
  for (const [path, change] of Object.entries(changes)) {
    if (path === TRUNCATED_CHANGES_PATH) {
      left += Number(MARKER_COUNT.exec(String(change.to))?.[1] ?? 0);
      continue;
    }
    const size = left > 0 ? 0 : encoder.encode(`${JSON.stringify(path)}:${JSON.stringify(change)},`).length;
    if (left === 0 && used + size <= maxBytes) {
      define(out, path, change);
      used += size;
    } else left++;
  }
  out[TRUNCATED_CHANGES_PATH] = truncationMarker(left);
  return out;
}
