import { canonicalJson, chainKeyBytes, type ChainHasher, type ChainKey } from './chain.ts';
import type { Store } from './store.ts';
import { verify, type VerifyBreak, type VerifyProgress } from './verify.ts';

/** The `format` of checkpoint documents this code writes and reads. */
export const CHECKPOINT_FORMAT = 'audit-trail-checkpoint/v1';

/** One chain's head, as a checkpoint records it. */
export interface CheckpointHead {
  /** The account; `null` for the records without an account. */
  account: string | null;
  /** `seq` of the newest record at the time. */
  seq: number;
  /** Its chain hash. */
  hash: string;
  /** Records in the chain up to it (`seq` unless retention pruned the start). */
  count: number;
}

/**
 * A signed record of chain heads at one moment, to keep outside the database
 * (a WORM bucket, a ticket, an email to the auditor). Verifying against it
 * later proves that the chain still contains every head it names: the newest
 * records cannot have been deleted, nor the chain rewritten, since.
 */
export interface Checkpoint {
  format: typeof CHECKPOINT_FORMAT;
  /** When it was taken, ISO 8601 UTC. */
  created: string;
  /** The account it was limited to, or `null` when it covers every account. */
  account_scope: { account: string | null } | null;
  /** Whether the chain is keyed (HMAC); the chain key itself is never in the document. */
  keyed: boolean;
  /** One head per chain, sorted by account (`null` first); chains without records are left out. */
  heads: CheckpointHead[];
  /** Lowercase hex HMAC-SHA-256, with the signing key, of the canonical JSON of every other field. */
  signature: string;
}

export const CHECKPOINT_ERROR_CODES = ['malformed', 'bad_signature', 'chain_broken'] as const;
export type CheckpointErrorCode = (typeof CHECKPOINT_ERROR_CODES)[number];

/** A checkpoint that cannot be made (the chain is broken) or trusted (malformed, or its signature does not verify). */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  /** `malformed`, `bad_signature` or `chain_broken`. */
  readonly code: CheckpointErrorCode;
  /** For `chain_broken`: the break that stopped it. */
  readonly break: VerifyBreak | undefined;

  constructor(code: CheckpointErrorCode, message: string, found?: VerifyBreak) {
    super(message);
    this.code = code;
    this.break = found;
  }
}

export interface CreateCheckpointOptions {
  /** The signing key (at least 16 bytes); the same key checks the checkpoint later. */
  key: ChainKey;
  /** The chain key, when the store was given `chain.key`. Default: a plain SHA-256 chain. */
  chainKey?: ChainKey;
  /** A hasher for the chain instead of `chainKey` (a faster `node:crypto` one, say). */
  hasher?: ChainHasher;
  /** Limit it to one account's chain (`null`: the records without an account). Default: every account. */
  account?: string | null;
  /** Records read per store call. Default 1000. */
  pageSize?: number;
  /** Progress of the verification it runs first. */
  onProgress?: (progress: VerifyProgress) => void;
  /** Passed to the verification it runs first: see `VerifyOptions`. */
  acceptUnchainedBefore?: string;
  /** Passed to the verification it runs first: see `VerifyOptions`. */
  acceptPrunedStart?: boolean;
}

const encoder = new TextEncoder();
const HEX64 = /^[0-9a-f]{64}$/;

async function sign(body: Omit<Checkpoint, 'signature'>, key: ChainKey): Promise<string> {
  const raw = chainKeyBytes(key, 'key');
  const imported = await crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', imported, encoder.encode(canonicalJson(body))));
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Compares two hex strings in time independent of where they differ. */
function sameHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Verifies the store's chains (all, or one account's) and returns a signed
 * checkpoint of their heads. Throws `CheckpointError` `chain_broken` rather
 * than vouch for a broken chain. Keep the result outside the database and
 * pass it to `verify` later.
 *
 * @example
 * const checkpoint = await createCheckpoint(store, { key: process.env.AUDIT_CHECKPOINT_KEY! });
 * await writeFile(`checkpoint-${checkpoint.created}.json`, JSON.stringify(checkpoint, null, 2));
 */
export async function createCheckpoint(store: Store, options: CreateCheckpointOptions): Promise<Checkpoint> {
  if (!options || typeof options !== 'object') throw new TypeError('createCheckpoint: options with a signing key are required');
  chainKeyBytes(options.key, 'createCheckpoint: key');
  const result = await verify(store, {
    ...(options.hasher ? { hasher: options.hasher } : options.chainKey !== undefined ? { key: options.chainKey } : {}),
    ...(options.account !== undefined ? { account: options.account } : {}),
    ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.acceptUnchainedBefore !== undefined ? { acceptUnchainedBefore: options.acceptUnchainedBefore } : {}),
    ...(options.acceptPrunedStart !== undefined ? { acceptPrunedStart: options.acceptPrunedStart } : {}),
  });
  if (!result.ok) {
    throw new CheckpointError(
      'chain_broken',
      `createCheckpoint: the chain is broken, so no checkpoint was made: ${result.kind} at #${result.seq ?? '?'} ` +
        `(${result.record_id ?? 'no record'}) of ${result.account === null ? 'records without an account' : `account ${result.account}`}: ${result.message}`,
      result,
    );
  }
  const keyed = options.hasher ? options.hasher.keyed : options.chainKey !== undefined;
  const body: Omit<Checkpoint, 'signature'> = {
    format: CHECKPOINT_FORMAT,
    created: new Date().toISOString(),
    account_scope: options.account === undefined ? null : { account: options.account },
    keyed,
    heads: result.accounts.filter((a) => a.count > 0).map((a) => ({ account: a.account, seq: a.seq, hash: a.hash, count: a.count })),
  };
  return { ...body, signature: await sign(body, options.key) };
}

/**
 * Checks that a value (say, `JSON.parse` of a checkpoint file) is a
 * well-formed checkpoint signed with `key`, and returns it. Throws
 * `CheckpointError` `malformed` or `bad_signature` otherwise.
 */
export async function checkCheckpoint(value: unknown, key: ChainKey): Promise<Checkpoint> {
  const fail = (why: string): never => {
    throw new CheckpointError('malformed', `not a checkpoint: ${why}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('expected a JSON object');
  const c = value as Record<string, unknown>;
  if (c.format !== CHECKPOINT_FORMAT) fail(`format must be "${CHECKPOINT_FORMAT}"`);
  if (typeof c.created !== 'string' || Number.isNaN(Date.parse(c.created))) fail('created must be an ISO 8601 instant');
  const scope = c.account_scope;
  if (scope !== null && !(typeof scope === 'object' && scope !== null && 'account' in scope && (typeof scope.account === 'string' || scope.account === null))) {
    fail('account_scope must be null or { account }');
  }
  if (typeof c.keyed !== 'boolean') fail('keyed must be a boolean');
  if (!Array.isArray(c.heads)) fail('heads must be an array');
  for (const head of c.heads as unknown[]) {
    const h = head as Record<string, unknown>;
    if (
      typeof h !== 'object' ||
      h === null ||
      !(typeof h.account === 'string' || h.account === null) ||
      !Number.isSafeInteger(h.seq) ||
      (h.seq as number) < 1 ||
      typeof h.hash !== 'string' ||
      !HEX64.test(h.hash) ||
      !Number.isSafeInteger(h.count) ||
      (h.count as number) < 1
    ) {
      fail('each head must be { account, seq ≥ 1, hash (64 hex digits), count ≥ 1 }');
    }
  }
  if (typeof c.signature !== 'string' || !HEX64.test(c.signature)) fail('signature must be 64 hex digits');
  const { signature, ...body } = c as unknown as Checkpoint;
  if (!sameHex(await sign(body, key), signature)) {
    throw new CheckpointError('bad_signature', 'the checkpoint signature does not verify: it was altered, or signed with another key');
  }
  return value as Checkpoint;
}
