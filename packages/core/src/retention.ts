import { bundleWriter, type BundleCheckpoint, type BundleSigningKey, type BundleSink } from './bundle.ts';
import { canonicalJson, chainDocument, compareAccounts, webCryptoHasher, type ChainedRecord, type ChainHasher, type ChainKey } from './chain.ts';
import type { Store } from './store.ts';

/**
 * Retention: pruning the oldest records of each account's chain without
 * breaking it. A prune writes the records into an evidence bundle, stores a
 * prune anchor per account (the last pruned position and hash, signed with
 * the chain's hasher), then deletes in small batches. `verify` continues each
 * chain from its newest anchor. Specified in CHAIN.md, "Retention".
 */

/** The minimum age of a prunable record when none is configured: twelve months (PCI DSS 10.5.1). */
export const DEFAULT_MIN_AGE_DAYS = 365;

/** Records deleted per transaction when none is configured. */
export const DEFAULT_PRUNE_BATCH = 1000;

/**
 * The record a prune leaves of the records it removed from one account's
 * chain: the chain continues after `seq`, whose hash was `hash`. Stored by the
 * store (the prune log) and checked by `verify`.
 */
export interface PruneAnchor {
  /** The account; `null` for the records without an account. */
  account: string | null;
  /** The first position this prune removed. */
  first_seq: number;
  /** The last position it removed: the chain continues at `seq + 1`. */
  seq: number;
  /** The hash of the record at `seq`: the `prev_hash` of the record at `seq + 1`. */
  hash: string;
  /** Records removed (`seq - first_seq + 1`). */
  count: number;
  /** The prune's `before`: records created before it were prunable. */
  before: string;
  /** When the prune ran, ISO 8601 UTC. */
  created: string;
  /** The `lines_digest` of the evidence bundle holding the removed records. */
  bundle_digest: string;
  /**
   * The chain hasher's digest (HMAC-SHA-256 with the chain key, else
   * SHA-256) of the canonical JSON of the other members: editing an anchor
   * of a keyed chain needs the key, as editing a record does.
   */
  signature: string;
}

/** An account under legal hold: none of its records is pruned until it is released. */
export interface LegalHold {
  account: string;
  /** Why, as given (a case number, say); `null` when none was given. */
  reason: string | null;
  /** Since when, ISO 8601 UTC. */
  held_at: string;
}

/**
 * What a store keeps for retention: the prune anchors, the legal holds, and a
 * delete of a run of chain positions. The SQLite, PostgreSQL and memory
 * stores have it as `Store.retention`; `prune` refuses a store without it.
 */
export interface RetentionStorage {
  /** Prune anchors, every account's or one's, sorted by account (`null` first) then `seq`. */
  anchors(accountId?: string | null): Promise<PruneAnchor[]>;
  /** Stores an anchor; durable when it resolves. */
  addAnchor(anchor: PruneAnchor): Promise<void>;
  /**
   * Deletes the account's chained records with `fromSeq <= seq <= throughSeq`
   * in one short transaction, and resolves to how many it deleted. The
   * caller keeps the run small, so that appends never wait long.
   */
  deleteChain(accountId: string | null, fromSeq: number, throughSeq: number): Promise<number>;
  /** The accounts under hold now, sorted by account. */
  holds(): Promise<LegalHold[]>;
  /** Puts an account under hold; resolves `false` when it already was. */
  hold(account: string, reason: string | null, at: string): Promise<boolean>;
  /** Releases an account's hold; resolves `false` when it had none. Its history is kept. */
  release(account: string, at: string): Promise<boolean>;
}

export const RETENTION_ERROR_CODES = ['no_archive', 'below_minimum_age', 'legal_hold', 'not_supported', 'chain_broken'] as const;
export type RetentionErrorCode = (typeof RETENTION_ERROR_CODES)[number];

/** A prune refused: no archive, `before` younger than the minimum age, an account under hold, or a store without retention. */
export class RetentionError extends Error {
  override readonly name = 'RetentionError';
  readonly code: RetentionErrorCode;
  constructor(code: RetentionErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** The text an anchor's signature is computed over. */
export function pruneAnchorDocument(anchor: Omit<PruneAnchor, 'signature'>): string {
  const { account, first_seq, seq, hash, count, before, created, bundle_digest } = anchor;
  return canonicalJson({ v: 1, type: 'prune_anchor', account, first_seq, seq, hash, count, before, created, bundle_digest });
}

/** Whether an anchor's signature matches its content under `hasher`. */
export async function checkPruneAnchor(anchor: PruneAnchor, hasher: ChainHasher): Promise<boolean> {
  return (await hasher.hash(pruneAnchorDocument(anchor))) === anchor.signature;
}

export interface PruneOptions {
  /** Records created before this instant (ISO 8601 with a zone) are pruned. */
  before: string;
  /** Only this account (`null`: the records without an account). Default: every account not under hold. */
  account?: string | null;
  /** Where the evidence bundle goes; required. Its `close` must resolve only once the bundle is durable. */
  archive: BundleSink;
  /** Signs the bundle: an HMAC key, or an Ed25519 private `CryptoKey`. */
  signingKey: BundleSigningKey;
  /** The minimum age in days: a `before` later than now minus this is refused. Default 365. */
  minAgeDays?: number;
  /** The chain key, when the store was given `chain.key`. */
  chainKey?: ChainKey;
  /** A hasher for the chain instead of `chainKey`. */
  hasher?: ChainHasher;
  /** A synchronous SHA-256 hasher for the bundle's line digest (`nodeChainHasher()` in Node). */
  digester?: ChainHasher;
  /** Records deleted per transaction. Default 1000. */
  batchSize?: number;
  /** Pause between delete batches, in milliseconds, so that the app's appends go first. Default 0 (a macrotask turn). */
  pauseMs?: number;
  /** The clock, for tests. */
  now?: () => Date;
  onProgress?: (progress: { phase: 'archive' | 'delete'; account: string | null; done: number }) => void;
}

/** What a prune did. */
export interface PruneResult {
  /** The anchor of each account pruned. */
  anchors: PruneAnchor[];
  /** Records deleted, over all accounts (those of an earlier interrupted prune included). */
  deleted: number;
  /**
   * Accounts left alone because they are under legal hold (also one put
   * under hold while the archive was written: its records are in the bundle
   * and still in the store).
   */
  held: string[];
  /** The bundle's checkpoint. */
  checkpoint: BundleCheckpoint;
}

const DAY_MS = 86_400_000;
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Prunes the records created before `options.before` from the start of each
 * account's chain (all, or one account's). Refuses (`RetentionError`) with no
 * archive, with a `before` younger than the minimum age, and for an account
 * under legal hold; a prune of every account skips held ones. First writes
 * every record it will remove into an evidence bundle and closes it, then
 * stores one signed prune anchor per account, then deletes in batches of
 * `batchSize`, each its own transaction, yielding between them.
 *
 * What is pruned is a prefix of the chain: records in chain order up to the
 * first one created at or after `before`. A slightly late record (created
 * before `before` but appended after a newer one) stays until a later prune.
 *
 * @example
 * await prune(store, { before: '2025-01-01T00:00:00Z', archive: fileSink('prune-2025.ndjson'), signingKey: process.env.AUDIT_BUNDLE_KEY! });
 */
export async function prune(store: Store, options: PruneOptions): Promise<PruneResult> {
  if (!options || typeof options !== 'object') throw new TypeError('prune: options are required');
  if (!options.archive || typeof options.archive.write !== 'function') {
    throw new RetentionError('no_archive', 'prune: an archive is required: the records are written into an evidence bundle before they are deleted');
  }
  const retention = store.retention;
  if (!retention || typeof store.scanChain !== 'function' || typeof store.chainHeads !== 'function') {
    throw new RetentionError('not_supported', 'prune: the store keeps no hash chain or no retention tables (it lacks retention, scanChain or chainHeads)');
  }
  if (typeof options.before !== 'string' || !/(Z|[+-]\d\d:\d\d)$/.test(options.before) || Number.isNaN(Date.parse(options.before))) {
    throw new TypeError('prune: before must be an ISO 8601 instant with a zone');
  }
  const before = new Date(options.before).toISOString();
  const minAgeDays = options.minAgeDays ?? DEFAULT_MIN_AGE_DAYS;
  if (!Number.isInteger(minAgeDays) || minAgeDays < 0) throw new TypeError('prune: minAgeDays must be a whole number of days, 0 or more');
  const batchSize = options.batchSize ?? DEFAULT_PRUNE_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new TypeError('prune: batchSize must be a positive integer');
  if (options.hasher && options.chainKey !== undefined) throw new TypeError('prune: give chainKey or hasher, not both');
  const now = (options.now ?? (() => new Date()))();
  const limit = new Date(now.getTime() - minAgeDays * DAY_MS);
  if (Date.parse(before) > limit.getTime()) {
    throw new RetentionError(
      'below_minimum_age',
      `prune: before ${before} is younger than the minimum age of ${minAgeDays} day(s): nothing created after ${limit.toISOString()} may be pruned`,
    );
  }
  const hasher = options.hasher ?? webCryptoHasher(options.chainKey);

  const held = new Set((await retention.holds()).map((hold) => hold.account));
  let accounts: Array<string | null>;
  if (options.account !== undefined) {
    if (options.account !== null && held.has(options.account)) {
      throw new RetentionError('legal_hold', `prune: account ${options.account} is under legal hold: release it first (nothing was pruned)`);
    }
    accounts = [options.account];
  } else {
    accounts = (await store.chainHeads()).map((head) => head.accountId).filter((account) => account === null || !held.has(account));
    accounts.sort(compareAccounts);
  }

  // Where each account's chain starts now: after its newest anchor (an interrupted prune may have left records up to it).
  const plans: Array<{ account: string | null; after: number; afterHash: string | null; leftover: { from: number; through: number } | null; through: number; hash: string; first: number }> = [];
  for (const account of accounts) {
    const anchors = await retention.anchors(account);
    const last = anchors.at(-1);
    const [oldest] = await store.scanChain(account, null, 1);
    const leftover = last && oldest && oldest.seq <= last.seq ? { from: oldest.seq, through: last.seq } : null;
    plans.push({ account, after: last?.seq ?? 0, afterHash: last?.hash ?? null, leftover, through: 0, hash: '', first: 0 });
  }

  // 1. The archive: every record to delete, checked as it is read.
  const writer = await bundleWriter(options.archive, {
    kind: 'prune',
    keyed: hasher.keyed,
    contiguous: true,
    scope: { ...(options.account === undefined ? { accounts: 'all not under legal hold' } : { account: options.account }), before, min_age_days: minAgeDays },
    signingKey: options.signingKey,
    ...(options.digester ? { digester: options.digester } : {}),
  });
  const pageSize = Math.max(batchSize, 500);
  for (const plan of plans) {
    let after = plan.after;
    let prev = plan.afterHash;
    let done = 0;
    scan: for (;;) {
      const page: ChainedRecord[] = await store.scanChain(plan.account, after, pageSize);
      for (const link of page) {
        if (link.record.created >= before) break scan;
        const recomputed = await hasher.hash(chainDocumentOf(link));
        if (recomputed !== link.hash || (prev !== null && link.prevHash !== prev) || (plan.first !== 0 && link.seq !== plan.through + 1)) {
          throw new RetentionError(
            'chain_broken',
            `prune: the chain of ${plan.account === null ? 'records without an account' : `account ${plan.account}`} does not check at #${link.seq} (${link.record.id}); ` +
              `run verify: nothing was pruned${hasher.keyed ? '' : ' (if the store was given chain.key, prune with that key)'}`,
          );
        }
        if (plan.first === 0) plan.first = link.seq;
        await writer.add(link);
        plan.through = link.seq;
        plan.hash = link.hash;
        prev = link.hash;
        done++;
      }
      if (page.length < pageSize) break;
      options.onProgress?.({ phase: 'archive', account: plan.account, done });
      after = page[page.length - 1]!.seq;
    }
    options.onProgress?.({ phase: 'archive', account: plan.account, done });
  }
  const checkpoint = await writer.finish();

  // A hold placed while the archive was written wins: that account keeps its records (the bundle holds a copy).
  const heldNow = new Set((await retention.holds()).map((hold) => hold.account));
  for (const plan of plans) {
    if (plan.account !== null && heldNow.has(plan.account) && !held.has(plan.account)) {
      held.add(plan.account);
      plan.first = 0;
      plan.leftover = null;
    }
  }

  // 2. The anchors, before any deletion: a prune interrupted from here on is finished by the next one.
  const created = now.toISOString();
  const anchors: PruneAnchor[] = [];
  for (const plan of plans) {
    if (plan.first === 0) continue;
    const body = {
      account: plan.account,
      first_seq: plan.first,
      seq: plan.through,
      hash: plan.hash,
      count: plan.through - plan.first + 1,
      before,
      created,
      bundle_digest: checkpoint.lines_digest,
    };
    const anchor: PruneAnchor = { ...body, signature: await hasher.hash(pruneAnchorDocument(body)) };
    await retention.addAnchor(anchor);
    anchors.push(anchor);
  }

  // 3. The deletes, in short transactions that let the app's appends in between.
  let deleted = 0;
  for (const plan of plans) {
    const runs = [...(plan.leftover ? [plan.leftover] : []), ...(plan.first !== 0 ? [{ from: plan.first, through: plan.through }] : [])];
    let done = 0;
    for (const run of runs) {
      for (let from = run.from; from <= run.through; from += batchSize) {
        done += await retention.deleteChain(plan.account, from, Math.min(run.through, from + batchSize - 1));
        options.onProgress?.({ phase: 'delete', account: plan.account, done });
        await pause(options.pauseMs ?? 0);
      }
    }
    deleted += done;
  }
  return { anchors, deleted, held: [...held].filter((account) => options.account === undefined || account === options.account).sort(), checkpoint };
}

/** Puts an account under legal hold (`release: true` lifts it); resolves whether anything changed. */
export async function setLegalHold(store: Store, account: string, options: { release?: boolean; reason?: string } = {}): Promise<boolean> {
  if (!store.retention) throw new RetentionError('not_supported', 'setLegalHold: the store keeps no retention tables');
  if (typeof account !== 'string' || account === '') throw new TypeError('setLegalHold: account must be a non-empty string');
  const at = new Date().toISOString();
  return options.release ? store.retention.release(account, at) : store.retention.hold(account, options.reason ?? null, at);
}

const chainDocumentOf = (link: ChainedRecord) => chainDocument(link.record, link.seq, link.prevHash);
