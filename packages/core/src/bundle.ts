import { canonicalJson, chainDocument, chainKeyBytes, GENESIS_HASH, webCryptoHasher, type ChainedRecord, type ChainHasher, type ChainKey } from './chain.ts';
import type { AuditRecord } from './record.ts';

/**
 * Evidence bundles: one NDJSON file holding audit records with their chain
 * links and a signed checkpoint, checkable with no access to the store
 * (docs/compliance.md, CHAIN.md "Evidence bundles"). Line 1 is the header,
 * then one line per record, then the checkpoint line, which signs a running
 * SHA-256 over every line before it: a byte changed anywhere is rejected.
 */

/** The `format` of the bundle header this code writes and reads. */
export const BUNDLE_FORMAT = 'audit-trail-bundle/v1';

/** Why a bundle was made. */
export type BundleKind = 'prune' | 'export';

/** Line 1 of a bundle. */
export interface BundleHeader {
  format: typeof BUNDLE_FORMAT;
  /** When it was written, ISO 8601 UTC. */
  created: string;
  /** `prune`: the records a prune removed; `export`: a copy. */
  kind: BundleKind;
  /** Whether the chain is keyed (HMAC): its hashes can then only be recomputed with the chain key. */
  keyed: boolean;
  /**
   * Whether each account's records are a complete run of its chain, without
   * gaps (a prune's, or an unfiltered export): their links are then checked
   * one to the next. Filtered exports hold records with gaps between them.
   */
  contiguous: boolean;
  /** What it covers, as given when it was made (account, filters, `before`); informative. */
  scope: Record<string, unknown>;
}

/** One record line. */
export interface BundleRecordLine {
  type: 'record';
  seq: number;
  prev_hash: string;
  hash: string;
  record: AuditRecord;
}

/** One account's records in a bundle, as its checkpoint line lists them. */
export interface BundleChain {
  account: string | null;
  /** `seq` of its first record in the bundle. */
  first_seq: number;
  /** `prev_hash` of that record: the hash of the record before it in the store. */
  first_prev_hash: string;
  /** `seq` of its last record in the bundle. */
  seq: number;
  /** That record's hash. */
  hash: string;
  /** Its records in the bundle. */
  count: number;
}

/** Signing algorithms of a bundle checkpoint. */
export const BUNDLE_ALGORITHMS = ['hmac-sha256', 'ed25519'] as const;
export type BundleAlgorithm = (typeof BUNDLE_ALGORITHMS)[number];

/** The last line of a bundle. */
export interface BundleCheckpoint {
  type: 'checkpoint';
  /** When it was signed, ISO 8601 UTC. */
  created: string;
  algorithm: BundleAlgorithm;
  /** Lines before this one (the header included). */
  lines: number;
  /** The running digest of those lines (see {@link nextLineDigest}). */
  lines_digest: string;
  /** Records in the bundle. */
  records: number;
  /** One entry per account, sorted as they appear. */
  chains: BundleChain[];
  /** Lowercase hex: HMAC-SHA-256 with the signing key, or Ed25519 with the private key, of the canonical JSON of every other member. */
  signature: string;
}

/**
 * A signing key for bundles: text or bytes (HMAC-SHA-256, like checkpoints),
 * or an Ed25519 private `CryptoKey` (so that an assessor checks with the
 * public key alone).
 */
export type BundleSigningKey = ChainKey | CryptoKey;

/** A key that checks a bundle: the HMAC key, or the Ed25519 public `CryptoKey`. */
export type BundleVerifyKey = ChainKey | CryptoKey;

const encoder = new TextEncoder();
const HEX64 = /^[0-9a-f]{64}$/;
const hex = (bytes: ArrayBuffer): string => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
const fromHex = (text: string): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
};
const isCryptoKey = (key: unknown): key is CryptoKey => typeof CryptoKey !== 'undefined' && key instanceof CryptoKey;

/** The plain SHA-256 hasher used for line digests (never keyed). */
const defaultDigester = webCryptoHasher();

/**
 * The running digest over a bundle's lines: starting from 64 zeros,
 * `digest = sha256_hex(digest + line)` for each line, without its newline.
 */
export function nextLineDigest(digester: ChainHasher, digest: string, line: string): string | Promise<string> {
  return digester.hash(digest + line);
}

async function signBody(body: Omit<BundleCheckpoint, 'signature'>, key: BundleSigningKey): Promise<string> {
  const data = encoder.encode(canonicalJson(body));
  if (isCryptoKey(key)) return hex(await crypto.subtle.sign({ name: 'Ed25519' }, key, data));
  const raw = chainKeyBytes(key, 'signingKey');
  const imported = await crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return hex(await crypto.subtle.sign('HMAC', imported, data));
}

/** Where a bundle is written: one call per line (with its newline); `close` resolves once the file is durable. */
export interface BundleSink {
  write(chunk: string): void | Promise<void>;
  close?(): void | Promise<void>;
}

export interface BundleWriterOptions {
  kind: BundleKind;
  keyed: boolean;
  contiguous: boolean;
  scope: Record<string, unknown>;
  /** HMAC key, or an Ed25519 private `CryptoKey`. */
  signingKey: BundleSigningKey;
  /** A synchronous SHA-256 hasher (`nodeChainHasher()` in Node) makes long bundles faster. Default: Web Crypto. */
  digester?: ChainHasher;
}

/**
 * Writes a bundle line by line: `add` each chained record (grouped by
 * account, in `seq` order), then `finish` to sign and close. Holds one
 * record at a time.
 *
 * @example
 * const writer = await bundleWriter(sink, { kind: 'export', keyed: false, contiguous: true, scope: {}, signingKey });
 * for (const link of links) await writer.add(link);
 * const checkpoint = await writer.finish();
 */
export async function bundleWriter(sink: BundleSink, options: BundleWriterOptions) {
  if (!isCryptoKey(options.signingKey)) chainKeyBytes(options.signingKey, 'signingKey');
  else if (options.signingKey.algorithm.name !== 'Ed25519' || options.signingKey.type !== 'private') {
    throw new TypeError('signingKey: a CryptoKey must be an Ed25519 private key');
  }
  const digester = options.digester ?? defaultDigester;
  let digest = GENESIS_HASH;
  let lines = 0;
  let records = 0;
  const chains: BundleChain[] = [];
  let current: BundleChain | null = null;
  const line = async (text: string) => {
    digest = await nextLineDigest(digester, digest, text);
    lines++;
    await sink.write(`${text}\n`);
  };
  const header: BundleHeader = {
    format: BUNDLE_FORMAT,
    created: new Date().toISOString(),
    kind: options.kind,
    keyed: options.keyed,
    contiguous: options.contiguous,
    scope: options.scope,
  };
  await line(JSON.stringify(header));
  return {
    async add(link: ChainedRecord): Promise<void> {
      const account = link.record.account_id ?? null;
      if (!current || current.account !== account) {
        if (chains.some((chain) => chain.account === account)) throw new TypeError('bundleWriter: records must be grouped by account');
        current = { account, first_seq: link.seq, first_prev_hash: link.prevHash, seq: link.seq, hash: link.hash, count: 0 };
        chains.push(current);
      }
      current.seq = link.seq;
      current.hash = link.hash;
      current.count++;
      records++;
      const entry: BundleRecordLine = { type: 'record', seq: link.seq, prev_hash: link.prevHash, hash: link.hash, record: link.record };
      await line(JSON.stringify(entry));
    },
    /** Signs and writes the checkpoint line, then closes the sink; resolves to the checkpoint. */
    async finish(): Promise<BundleCheckpoint> {
      const body: Omit<BundleCheckpoint, 'signature'> = {
        type: 'checkpoint',
        created: new Date().toISOString(),
        algorithm: isCryptoKey(options.signingKey) ? 'ed25519' : 'hmac-sha256',
        lines,
        lines_digest: digest,
        records,
        chains: chains.map((chain) => ({ ...chain })),
      };
      const checkpoint: BundleCheckpoint = { ...body, signature: await signBody(body, options.signingKey) };
      await sink.write(`${JSON.stringify(checkpoint)}\n`);
      await sink.close?.();
      return checkpoint;
    },
  };
}

/** A bundle that checked. */
export interface BundleIntact {
  ok: true;
  header: BundleHeader;
  checkpoint: BundleCheckpoint;
  records: number;
  /** Whether every record's hash was recomputed (always for a plain chain; for a keyed one only with `chainKey`). */
  hashes_checked: boolean;
}

/** A bundle that did not check: where and why. */
export interface BundleBroken {
  ok: false;
  /** 1-based line number where the problem shows (0: the file as a whole). */
  line: number;
  code: 'malformed' | 'bad_signature' | 'broken';
  message: string;
}

export type BundleVerifyResult = BundleIntact | BundleBroken;

export interface VerifyBundleOptions {
  /** The HMAC signing key, or the Ed25519 public `CryptoKey`. */
  key: BundleVerifyKey;
  /** The chain key, for a bundle of a keyed chain: its hashes are then recomputed too. */
  chainKey?: ChainKey;
  /** A hasher for the chain instead of `chainKey` (or for a plain chain: a faster synchronous one). */
  hasher?: ChainHasher;
  /** A synchronous SHA-256 hasher for the line digest (`nodeChainHasher()` in Node). Default: Web Crypto. */
  digester?: ChainHasher;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks an evidence bundle from its lines alone (no store): the header, every
 * record's hash (when the chain is plain or `chainKey` is given) and links,
 * the line digest, and the checkpoint's signature. Lines are the file split
 * at `\n` (`text.split('\n')`): a whole file ends with an empty piece after
 * the checkpoint line. Never throws for a bad bundle: the result names the
 * line.
 *
 * @example
 * const result = await verifyBundle((await readFile(file, 'utf8')).split('\n'), { key: publicKey });
 * if (!result.ok) console.error(`line ${result.line}: ${result.message}`);
 */
export async function verifyBundle(lines: AsyncIterable<string> | Iterable<string>, options: VerifyBundleOptions): Promise<BundleVerifyResult> {
  if (!options || typeof options !== 'object' || options.key === undefined) throw new TypeError('verifyBundle: options.key (the signing key or public key) is required');
  if (isCryptoKey(options.key)) {
    if (options.key.algorithm.name !== 'Ed25519' || options.key.type !== 'public') throw new TypeError('verifyBundle: a CryptoKey must be an Ed25519 public key');
  } else chainKeyBytes(options.key, 'verifyBundle: key');
  if (options.hasher && options.chainKey !== undefined) throw new TypeError('verifyBundle: give chainKey or hasher, not both');
  const digester = options.digester ?? defaultDigester;
  const broken = (line: number, code: BundleBroken['code'], message: string): BundleBroken => ({ ok: false, line, code, message });

  let n = 0;
  let digest = GENESIS_HASH;
  let header: BundleHeader | null = null;
  let hasher: ChainHasher | null = null;
  let checkpoint: Record<string, unknown> | null = null;
  let checkpointDigest = '';
  const chains: BundleChain[] = [];
  let current: BundleChain | null = null;
  let records = 0;
  let ended = false;

  for await (const raw of lines) {
    n++;
    if (checkpoint) {
      // The newline that ends the checkpoint line leaves one empty piece, and nothing else may follow.
      if (raw === '' && !ended) {
        ended = true;
        continue;
      }
      return broken(n, 'malformed', 'a line follows the checkpoint line: the checkpoint must be last');
    }
    if (raw.includes('\r')) return broken(n, 'malformed', 'a carriage return: bundle lines end with \\n only');
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      return broken(n, 'malformed', 'not JSON');
    }
    if (!isObject(value)) return broken(n, 'malformed', 'not a JSON object');
    if (n === 1) {
      if (value.format !== BUNDLE_FORMAT) return broken(n, 'malformed', `not a bundle: the header's format must be "${BUNDLE_FORMAT}"`);
      if (typeof value.keyed !== 'boolean' || typeof value.contiguous !== 'boolean' || (value.kind !== 'prune' && value.kind !== 'export')) {
        return broken(n, 'malformed', 'the header needs kind (prune or export), keyed and contiguous');
      }
      header = value as unknown as BundleHeader;
      hasher =
        options.hasher ?? (options.chainKey !== undefined ? webCryptoHasher(options.chainKey) : header.keyed ? null : webCryptoHasher());
      if (hasher && hasher.keyed !== header.keyed) {
        return broken(n, 'malformed', header.keyed ? 'the bundle is of a keyed chain: its hashes need the chain key' : 'the bundle is of a plain chain, but a chain key was given');
      }
    } else if (value.type === 'record') {
      const { seq, prev_hash: prevHash, hash, record } = value;
      if (!Number.isSafeInteger(seq) || (seq as number) < 1 || typeof prevHash !== 'string' || !HEX64.test(prevHash) || typeof hash !== 'string' || !HEX64.test(hash) || !isObject(record) || typeof record.id !== 'string') {
        return broken(n, 'malformed', 'a record line needs seq ≥ 1, prev_hash and hash (64 hex digits) and a record with an id');
      }
      const link = { seq: seq as number, prevHash, hash, record: record as unknown as AuditRecord };
      const account = (link.record.account_id ?? null) as string | null;
      if (hasher) {
        const recomputed = await hasher.hash(chainDocument(link.record, link.seq, link.prevHash));
        if (recomputed !== hash) return broken(n, 'broken', `record #${link.seq} (${link.record.id}) does not match its hash: it was changed`);
      }
      if (!current || current.account !== account) {
        if (chains.some((chain) => chain.account === account)) return broken(n, 'malformed', `records of ${account ?? 'no account'} are not together`);
        current = { account, first_seq: link.seq, first_prev_hash: prevHash, seq: link.seq, hash, count: 0 };
        chains.push(current);
      } else if (link.seq <= current.seq) {
        return broken(n, 'broken', `record #${link.seq} (${link.record.id}) comes after #${current.seq}: out of order`);
      } else if (header!.contiguous && (link.seq !== current.seq + 1 || prevHash !== current.hash)) {
        return broken(
          n,
          'broken',
          link.seq !== current.seq + 1
            ? `records #${current.seq + 1} to #${link.seq - 1} are missing before #${link.seq} (${link.record.id})`
            : `record #${link.seq} (${link.record.id}) does not link to #${current.seq}: prev_hash differs`,
        );
      }
      current.seq = link.seq;
      current.hash = hash;
      current.count++;
      records++;
    } else if (value.type === 'checkpoint') {
      if (raw !== JSON.stringify(value)) return broken(n, 'malformed', 'the checkpoint line is not in the form it was written in (spaces or escapes added)');
      checkpoint = value;
      checkpointDigest = digest;
      continue;
    } else {
      return broken(n, 'malformed', 'a line that is neither a record nor the checkpoint');
    }
    digest = await nextLineDigest(digester, digest, raw);
  }
  if (n === 0 || !header) return broken(0, 'malformed', 'empty: not a bundle');
  if (!checkpoint) return broken(n, 'malformed', 'no checkpoint line: the bundle is incomplete (cut short?)');
  if (!ended) return broken(n, 'malformed', 'the checkpoint line does not end with a newline: the file was cut or changed at its end');
  const at = n - 1;
  const c = checkpoint;
  if (c.algorithm !== 'hmac-sha256' && c.algorithm !== 'ed25519') return broken(at, 'malformed', 'the checkpoint algorithm must be hmac-sha256 or ed25519');
  if (typeof c.signature !== 'string' || !/^[0-9a-f]+$/.test(c.signature)) return broken(at, 'malformed', 'the checkpoint signature must be hex');
  if (isCryptoKey(options.key) !== (c.algorithm === 'ed25519')) {
    return broken(at, 'bad_signature', `the bundle is signed with ${c.algorithm}: check it with ${c.algorithm === 'ed25519' ? 'the public key' : 'the HMAC signing key'}`);
  }
  const { signature, ...body } = c as unknown as BundleCheckpoint;
  const data = encoder.encode(canonicalJson(body));
  let valid: boolean;
  if (isCryptoKey(options.key)) {
    valid = signature.length === 128 && (await crypto.subtle.verify({ name: 'Ed25519' }, options.key, fromHex(signature), data));
  } else {
    const expected = await signBody(body, options.key);
    let diff = expected.length ^ signature.length;
    for (let i = 0; i < Math.min(expected.length, signature.length); i++) diff |= expected.charCodeAt(i) ^ signature.charCodeAt(i);
    valid = diff === 0;
  }
  if (!valid) return broken(at, 'bad_signature', 'the checkpoint signature does not verify: the bundle was altered, or signed with another key');
  if (c.lines !== at - 1 || c.lines_digest !== checkpointDigest) {
    return broken(0, 'broken', `the lines do not match the signed digest (${String(c.lines)} line(s) signed, ${at - 1} found): a line was changed, added or removed`);
  }
  if (c.records !== records || canonicalJson(c.chains) !== canonicalJson(chains)) {
    return broken(at, 'broken', 'the records do not match the chains the checkpoint lists');
  }
  return { ok: true, header, checkpoint: c as unknown as BundleCheckpoint, records, hashes_checked: hasher !== null };
}
