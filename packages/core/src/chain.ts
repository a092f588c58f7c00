import type { AuditRecord } from './record.ts';

/**
 * The hash chain: every record of an account is linked to the one before it
 * by a hash over its canonical form, its position and its predecessor's hash.
 * Specified in CHAIN.md beside this package, so that the chain can be checked
 * without this code.
 */

/** `prev_hash` of the first record of every chain: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/** The version of the hashed document (its `v` field); a new canonical form would be version 2. */
export const CHAIN_VERSION = 1;

/** The shortest chain key accepted, in bytes (as for the cursor secret). */
export const MIN_CHAIN_KEY_BYTES = 16;

/** A chain key: text (its UTF-8 bytes are the key) or raw bytes. At least 16 bytes. */
export type ChainKey = string | Uint8Array;

/** The `chain` option of a store: on by default, with plain SHA-256; a key makes every hash an HMAC. */
export interface ChainOptions {
  /**
   * The HMAC-SHA-256 key. Without one each hash is a plain SHA-256, which
   * anyone able to write to the database can recompute after an edit; with
   * one, editing a record undetected takes the key as well. Keep it out of
   * the database (an environment variable, a secrets manager); verification
   * needs the same key.
   */
  key?: ChainKey;
}

/** A record's place in its account's chain. */
export interface ChainLink {
  /** Position in the account's chain: 1 for the first record, then 2, 3, … without gaps. */
  seq: number;
  /** `hash` of the record at `seq - 1`, or {@link GENESIS_HASH} for the first. */
  prevHash: string;
  /** Lowercase hex of SHA-256 (or HMAC-SHA-256 with a key) over the record's chain document. */
  hash: string;
}

/** A stored record with its link, as `Store.scanChain` returns it. */
export interface ChainedRecord extends ChainLink {
  record: AuditRecord;
}

/** The newest link of one account's chain, as a store knows it. */
export interface ChainHead {
  /** The account; `null` for the chain of records without an account. */
  accountId: string | null;
  /** `seq` of the newest record; 0 when the account has no chained record. */
  seq: number;
  /** `hash` of the newest record; {@link GENESIS_HASH} when `seq` is 0. */
  hash: string;
}

/**
 * Computes chain hashes. `hash` returns lowercase hex of SHA-256, or of
 * HMAC-SHA-256 with the hasher's key, over the UTF-8 bytes of its input.
 * Core's {@link webCryptoHasher} is asynchronous and runs anywhere; a
 * Node-only store may pass a synchronous one built on `node:crypto`, which
 * must give the same hashes.
 */
export interface ChainHasher {
  /** Whether hashes are keyed (HMAC-SHA-256) rather than plain SHA-256. */
  readonly keyed: boolean;
  /** Lowercase hex digest of the UTF-8 bytes of `text`. */
  hash(text: string): string | Promise<string>;
}

/** A chain hasher whose `hash` returns synchronously; what stores with synchronous transactions need. */
export interface SyncChainHasher extends ChainHasher {
  hash(text: string): string;
}

const encoder = new TextEncoder();

/**
 * The bytes of a chain key, checked: text becomes its UTF-8 bytes. Throws a
 * `TypeError` naming `option` for anything else or for fewer than 16 bytes.
 */
export function chainKeyBytes(key: unknown, option = 'chain.key'): Uint8Array {
  let bytes: Uint8Array;
  if (typeof key === 'string') bytes = encoder.encode(key);
  else if (key instanceof Uint8Array) bytes = key.slice();
  else throw new TypeError(`${option} must be a string or a Uint8Array`);
  if (bytes.length < MIN_CHAIN_KEY_BYTES) {
    throw new TypeError(`${option} must be at least ${MIN_CHAIN_KEY_BYTES} bytes (e.g. 32 random bytes, or the hex text of them)`);
  }
  return bytes;
}

/**
 * A store's `chain` option, checked: `null` when chaining is off (`false`),
 * else the key bytes (`null` key for plain SHA-256). Throws a `TypeError`
 * naming the option.
 */
export function resolveChainOption(chain: unknown, store: string): { key: Uint8Array | null } | null {
  if (chain === false) return null;
  if (chain === undefined || chain === true) return { key: null };
  if (typeof chain !== 'object' || chain === null) {
    throw new TypeError(`${store}: chain must be false or an object ({ key?: string | Uint8Array })`);
  }
  const { key } = chain as ChainOptions;
  return { key: key === undefined ? null : chainKeyBytes(key, `${store}: chain.key`) };
}

const toHex = (bytes: ArrayBuffer): string => {
  const view = new Uint8Array(bytes);
  let hex = '';
  for (const byte of view) hex += (byte < 16 ? '0' : '') + byte.toString(16);
  return hex;
};

/**
 * The chain hasher of Web Crypto (`crypto.subtle`): SHA-256, or HMAC-SHA-256
 * with `key`. Runs in Node, Bun, Deno, browsers and Workers. The key is
 * imported on first use (Workers forbid some crypto work at global scope).
 *
 * @example
 * const links = await linkRecords(null, records, webCryptoHasher(process.env.AUDIT_CHAIN_KEY));
 */
export function webCryptoHasher(key?: ChainKey | null): ChainHasher {
  if (key === undefined || key === null) {
    return {
      keyed: false,
      hash: async (text) => toHex(await crypto.subtle.digest('SHA-256', encoder.encode(text))),
    };
  }
  const raw = chainKeyBytes(key, 'key');
  let imported: Promise<CryptoKey> | null = null;
  return {
    keyed: true,
    async hash(text) {
      imported ??= crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      return toHex(await crypto.subtle.sign('HMAC', await imported, encoder.encode(text)));
    },
  };
}

// A UTF-16 surrogate without its partner. Stores write text as UTF-8, where
// such a code unit becomes U+FFFD, so the canonical form makes it U+FFFD too.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const ANY_SURROGATE = /[\uD800-\uDFFF]/;

/**
 * `text` with every lone UTF-16 surrogate replaced by U+FFFD, as the
 * canonical form reads it (and as `String.prototype.toWellFormed` does).
 * Stores whose driver writes lone surrogates some other way use it on text
 * before storing it, so that records read back as they were hashed.
 */
export function wellFormed(text: string): string {
  return ANY_SURROGATE.test(text) ? text.replace(LONE_SURROGATE, '\uFFFD') : text;
}

const jsonString = (text: string): string => JSON.stringify(wellFormed(text));

/** Sorts by UTF-16 code units, as RFC 8785 does (and `Array.prototype.sort` with no comparator). */
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The canonical JSON text of a JSON value (RFC 8785, JCS): object keys sorted
 * by UTF-16 code units at every depth, no whitespace, numbers as
 * `JSON.stringify` writes them, strings escaped as `JSON.stringify` escapes
 * them, after replacing lone surrogates with U+FFFD. As in `JSON.stringify`,
 * object members whose value is `undefined` (or a function) are left out,
 * and such array elements and non-finite numbers are `null`.
 *
 * @example
 * canonicalJson({ b: [1, 'x'], a: { d: null, c: 1.5 } }); // '{"a":{"c":1.5,"d":null},"b":[1,"x"]}'
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return jsonString(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('canonicalJson: a bigint has no JSON form');
    case 'object': {
      if (value === null) return 'null';
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
        return canonicalJson((value as { toJSON(): unknown }).toJSON());
      }
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (i > 0) out += ',';
          out += item === undefined || typeof item === 'function' || typeof item === 'symbol' ? 'null' : canonicalJson(item);
        }
        return `${out}]`;
      }
      const members: Array<[string, unknown]> = [];
      for (const key of Object.keys(value)) {
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
        members.push([wellFormed(key), item]);
      }
      members.sort((a, b) => byCodeUnits(a[0], b[0]));
      let out = '{';
      for (let i = 0; i < members.length; i++) {
        if (i > 0) out += ',';
        out += `${JSON.stringify(members[i]![0])}:${canonicalJson(members[i]![1])}`;
      }
      return `${out}}`;
    }
    default:
      // undefined, functions and symbols have no JSON form at the top level.
      return 'null';
  }
}

/** A nullable text field, canonical: absent counts as `null` (a store that leaves out a null field must not change the hash). */
const text = (value: string | null | undefined): string => (value === undefined || value === null ? 'null' : jsonString(value));

/**
 * The text a record's chain hash is computed over: the canonical JSON
 * ({@link canonicalJson}) of `{ v, chain_seq, prev_hash, record }`, where
 * `record` holds exactly the record fields of the record format (README) (`changes` only
 * when it is not `null`). It does not depend
 * on key order or on the store the record came from.
 *
 * Written out member by member in canonical key order rather than built as an
 * object and sorted: it runs for every record appended and verified, and the
 * tests check it against `canonicalJson` of the object.
 *
 * @example
 * chainDocument(record, 1, GENESIS_HASH); // '{"chain_seq":1,"prev_hash":"000…","record":{"account_id":…},"v":1}'
 */
export function chainDocument(record: AuditRecord, seq: number, prevHash: string): string {
  const request = record.request ?? ({} as Partial<AuditRecord['request']>);
  const trace = record.trace ?? null;
  const user = record.user ?? ({} as Partial<AuditRecord['user']>);
  const status = record.status_code;
  return (
    `{"chain_seq":${canonicalJson(seq)},"prev_hash":${jsonString(prevHash)},"record":{` +
    `"account_id":${text(record.account_id)},` +
    `"action_type":${text(record.action_type)},` +
    `"app_id":${text(record.app_id)},` +
    // Left out when null, so that records hashed before `changes` existed keep their hashes (CHAIN.md).
    (record.changes === undefined || record.changes === null ? '' : `"changes":${canonicalJson(record.changes)},`) +
    `"created":${text(record.created)},` +
    `"details":${canonicalJson(record.details ?? {})},` +
    `"id":${text(record.id)},` +
    `"outcome":${text(record.outcome)},` +
    `"request":{"ip":${text(request.ip)},"method":${text(request.method)},"path":${text(request.path)},` +
    `"request_id":${text(request.request_id)},"route":${text(request.route)},"user_agent":${text(request.user_agent)}},` +
    `"resource":${text(record.resource)},` +
    `"resource_id":${text(record.resource_id)},` +
    `"status_code":${status === undefined || status === null ? 'null' : canonicalJson(status)},` +
    `"trace":${trace === null ? 'null' : `{"span_id":${text(trace.span_id)},"trace_id":${text(trace.trace_id)}}`},` +
    `"user":{"email":${text(user.email)},"id":${text(user.id)}}` +
    `},"v":${CHAIN_VERSION}}`
  );
}

/** The chain hash of a record at `seq` after `prevHash`. */
export function hashRecord(hasher: ChainHasher, record: AuditRecord, seq: number, prevHash: string): string | Promise<string> {
  return hasher.hash(chainDocument(record, seq, prevHash));
}

/** Where a chain continues: the newest link, or `null` for an empty chain. */
export type ChainPosition = Pick<ChainLink, 'seq' | 'hash'> | null;

/**
 * Links records of ONE account after `head` (its newest link, or `null` for
 * an empty chain), in the order given: the first gets `head.seq + 1` and
 * `prevHash = head.hash`. Stores call it inside the transaction that reads
 * the head and inserts the records, so that appends are serialised per
 * account.
 *
 * @example
 * const links = await linkRecords(await readHead(account), batch, webCryptoHasher());
 */
export async function linkRecords(head: ChainPosition, records: readonly AuditRecord[], hasher: ChainHasher): Promise<ChainedRecord[]> {
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  const out: ChainedRecord[] = [];
  for (const record of records) {
    seq++;
    const hash = await hasher.hash(chainDocument(record, seq, prevHash));
    out.push({ record, seq, prevHash, hash });
    prevHash = hash;
  }
  return out;
}

/**
 * {@link linkRecords} with a synchronous hasher, for stores whose
 * transactions are synchronous (better-sqlite3). Throws a `TypeError` if the
 * hasher returns a promise.
 */
export function linkRecordsSync(head: ChainPosition, records: readonly AuditRecord[], hasher: ChainHasher): ChainedRecord[] {
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  const out: ChainedRecord[] = [];
  for (const record of records) {
    seq++;
    const hash = hasher.hash(chainDocument(record, seq, prevHash));
    if (typeof hash !== 'string') throw new TypeError('linkRecordsSync: the hasher must return the hash synchronously');
    out.push({ record, seq, prevHash, hash });
    prevHash = hash;
  }
  return out;
}

/**
 * The records of a batch grouped by account (`null` for none), each group in
 * batch order, without records whose id came earlier in the batch. Stores
 * link each group after its account's head.
 */
export function groupByAccount(records: readonly AuditRecord[]): Map<string | null, AuditRecord[]> {
  const seen = new Set<string>();
  const groups = new Map<string | null, AuditRecord[]>();
  for (const record of records) {
    if (seen.has(record.id)) continue;
    seen.add(record.id);
    const account = record.account_id ?? null;
    let group = groups.get(account);
    if (!group) groups.set(account, (group = []));
    group.push(record);
  }
  return groups;
}

/** Orders account keys as every store locks and lists them: `null` first, then by UTF-16 code units. */
export function compareAccounts(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return byCodeUnits(a, b);
}
