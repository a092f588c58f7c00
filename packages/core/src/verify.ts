import {
  chainDocument,
  GENESIS_HASH,
  hashRecord,
  webCryptoHasher,
  type ChainedRecord,
  type ChainHasher,
  type ChainHead,
  type ChainKey,
} from './chain.ts';
import { checkCheckpoint, type Checkpoint, type CheckpointHead } from './checkpoint.ts';
import { checkPruneAnchor, type PruneAnchor } from './retention.ts';
import type { Store } from './store.ts';

/**
 * What a break in a chain looks like, as `verify` diagnoses it from the links
 * around it:
 * - `modified`: a record no longer matches its hash (its content, `created`,
 *   position or hash was changed), or it was rewritten with a recomputed hash
 *   and the next record still links to the old one.
 * - `deleted`: positions are missing (a gap in `seq`), or a record links to a
 *   predecessor that no longer exists.
 * - `inserted`: a record that is not part of the chain: without a link, with
 *   a seq already taken or below 1, linked to nothing that links on, or
 *   beyond the head the store recorded.
 * - `reordered`: records are intact but in other positions than their links
 *   say (swapped or renumbered).
 * - `truncated`: the chain ends before a head it reached: the store's own
 *   head record, or a checkpoint's; or it differs from a checkpoint.
 */
export const BREAK_KINDS = ['modified', 'deleted', 'inserted', 'reordered', 'truncated'] as const;
export type BreakKind = (typeof BREAK_KINDS)[number];

/** Progress of a long verification, reported after every page. */
export interface VerifyProgress {
  /** The account being verified (`null`: records without an account). */
  account: string | null;
  /** Records verified so far in this account. */
  verified: number;
  /** Records of the account's chain when verification began, when known. */
  total?: number;
}

export interface VerifyOptions {
  /** The chain key, when the store was given `chain.key`. Omit for a plain SHA-256 chain. */
  key?: ChainKey;
  /**
   * The hasher to recompute hashes with, instead of `key`: in Node a
   * synchronous `node:crypto` one is several times faster than Web Crypto.
   */
  hasher?: ChainHasher;
  /** Verify this account's chain only (`null`: the records without an account). Default: every account. */
  account?: string | null;
  /**
   * A checkpoint taken earlier (`createCheckpoint`). Its signature is checked
   * first (a bad one throws `CheckpointError`), then every chain it covers
   * must still hold its head: the only way to notice that the newest records
   * were deleted together with the store's own head.
   */
  checkpoint?: Checkpoint;
  /** The key the checkpoint was signed with. Default: `key`. */
  checkpointKey?: ChainKey;
  /** Records read per store call. Default 1000. */
  pageSize?: number;
  /** Called after each page; an error it throws is not caught. */
  onProgress?: (progress: VerifyProgress) => void;
  /**
   * Records without a link created before this instant (ISO 8601) are
   * accepted as written before chaining was turned on, and not reported as
   * inserted. Records without a link are always reported otherwise.
   */
  acceptUnchainedBefore?: string;
  /**
   * Accept chains that begin after #1 without a prune anchor, as a delete
   * by hand leaves them: the first record left is then trusted to link to a
   * deleted one. Off by default, since deleting the oldest records is
   * otherwise a break. Not needed after `prune`: its chains continue from a
   * signed anchor, which `verify` checks.
   */
  acceptPrunedStart?: boolean;
}

/** One chain that verified. */
export interface ChainSummary {
  account: string | null;
  /** `seq` of the first record (1 unless pruned), 0 for an empty chain. */
  first_seq: number;
  /** `seq` of the newest record verified, 0 for an empty chain. */
  seq: number;
  /** Its hash; {@link GENESIS_HASH} for an empty chain. */
  hash: string;
  /** Records verified in the chain. */
  count: number;
  /** The last position a prune removed (the chain continues from its signed anchor); 0 when never pruned. */
  pruned_through: number;
}

/** Everything verified intact. */
export interface VerifyIntact {
  ok: true;
  /** Records verified, over all chains. */
  verified: number;
  /** Each chain verified, sorted by account (`null` first). */
  accounts: ChainSummary[];
}

/** The first break found; verification stops there. */
export interface VerifyBreak {
  ok: false;
  account: string | null;
  /** The chain position of the break (for a deletion: the first missing one). */
  seq: number | null;
  /** The record where the break shows, when there is one (for a deletion: the record after the gap). */
  record_id: string | null;
  kind: BreakKind;
  /** What was found, naming positions and ids, for people. */
  message: string;
  /** Records verified before the break. */
  verified: number;
  /** The chains verified intact before the break. */
  accounts: ChainSummary[];
}

export type VerifyResult = VerifyIntact | VerifyBreak;

type Finding = Omit<VerifyBreak, 'ok' | 'verified' | 'accounts' | 'account'>;

/** How far past a break `verify` reads to tell a reordering from a modification. */
const LOOKAHEAD_RECORDS = 100_000;

const describe = (account: string | null): string => (account === null ? 'records without an account' : `account ${account}`);


/** What the per-account checks read: the store's chain calls. */
interface ChainReader {
  scanChain: NonNullable<Store['scanChain']>;
  chainHeads: NonNullable<Store['chainHeads']>;
}

/** One account's walk, as the checks below need it. */
interface AccountWalk {
  call: ChainReader;
  account: string | null;
  pageSize: number;
  hasher: ChainHasher;
}

/** The checks after the walk: the store's head, read before and after it, must agree with where the chain ended. */
async function checkEnd(walk: AccountWalk, head: ChainHead, last: number, prev: string, lastId: string | null): Promise<Finding | null> {
  if (last < head.seq) {
    return {
      seq: last + 1,
      record_id: null,
      kind: 'truncated',
      message:
        `the chain ends at #${last} but the store's head of ${describe(walk.account)} is #${head.seq} (hash ${head.hash}): ` +
        `${head.seq - last} record(s) from #${last + 1} on were deleted`,
    };
  }
  if (last === head.seq && last > 0 && prev !== head.hash) {
    return {
      seq: last,
      record_id: lastId,
      kind: 'modified',
      message: `record #${last} (${lastId}) is not the record the store's head names (hash ${head.hash}): it was replaced and its hash recomputed`,
    };
  }
  const [after] = await walk.call.chainHeads(walk.account);
  const now = after?.seq ?? 0;
  if (last > now) {
    const [extra] = await walk.call.scanChain(walk.account, now, 1);
    return {
      seq: now + 1,
      record_id: extra?.record.id ?? null,
      kind: 'inserted',
      message: `record #${now + 1} (${extra?.record.id ?? '?'}) lies beyond the store's head of ${describe(walk.account)} (#${now}): the store never appended it`,
    };
  }
  return null;
}

/** Checks one link against the position and hash that must come next; `null` when it holds. */
async function checkLink(walk: AccountWalk, link: ChainedRecord, at: number, before: string, beforeId: string | null, recomputed: string): Promise<Finding | null> {
  const { seq, record } = link;
  if (seq > at) {
    return {
      seq: at,
      record_id: record.id,
      kind: 'deleted',
      message:
        (seq - at === 1 ? `record #${at} is missing` : `records #${at} to #${seq - 1} are missing`) +
        `: ${beforeId ? `after #${at - 1} (${beforeId})` : 'at the start of the chain'} comes #${seq} (${record.id})`,
    };
  }
  if (seq < at) {
    return {
      seq,
      record_id: record.id,
      kind: 'inserted',
      message:
        seq < 1
          ? `record ${record.id} claims position #${seq}, before the start of the chain`
          : `record ${record.id} claims position #${seq}, which record ${beforeId} already holds`,
    };
  }
  const linked = link.prevHash === before;
  const intact = recomputed === link.hash;
  if (linked && intact) return null;

  // Past the head the store recorded (read now, so that records appended meanwhile count): never appended by it.
  const [now] = await walk.call.chainHeads(walk.account);
  if (seq > (now?.seq ?? 0)) {
    return {
      seq,
      record_id: record.id,
      kind: 'inserted',
      message: `record #${seq} (${record.id}) lies beyond the store's head of ${describe(walk.account)} (#${now?.seq ?? 0}) and does not check: the store never appended it`,
    };
  }

  const { successor, predecessor, home } = await lookAhead(walk, link);
  if (home || predecessor || (successor && successor.seq !== seq + 1)) {
    const where = home
      ? `its hash fits position #${home.seq}, which record ${home.record.id} now holds`
      : predecessor
        ? `it links to record #${predecessor.seq} (${predecessor.record.id}), which comes after it`
        : `record #${successor!.seq} (${successor!.record.id}) links to it as its predecessor`;
    return { seq, record_id: record.id, kind: 'reordered', message: `record #${seq} (${record.id}) is out of place: ${where}` };
  }
  if (linked) {
    return {
      seq,
      record_id: record.id,
      kind: 'modified',
      message: `record #${seq} (${record.id}) does not match its hash: its content, created time or hash was changed`,
    };
  }
  if (intact) {
    return {
      seq: seq - 1,
      record_id: beforeId,
      kind: 'modified',
      message:
        `record #${seq - 1} (${beforeId ?? '?'}) was changed and its hash recomputed: ` +
        `record #${seq} (${record.id}) still links to its original hash`,
    };
  }
  if (successor) {
    return {
      seq,
      record_id: record.id,
      kind: 'deleted',
      message: `the record before #${seq} (${record.id}) is missing: #${seq} links to a hash no record has, and the records after it were renumbered`,
    };
  }
  return {
    seq,
    record_id: record.id,
    kind: 'inserted',
    message: `record #${seq} (${record.id}) is not part of the chain: it neither links to #${seq - 1} nor matches its hash, and nothing links to it`,
  };
}

/**
 * Reads up to {@link LOOKAHEAD_RECORDS} records past a broken link to
 * diagnose it: the record linking to it (`successor`), the record it links
 * to if that comes later (`predecessor`), and a later position whose link
 * its hash fits (`home`: it was moved from there).
 */
async function lookAhead(walk: AccountWalk, link: ChainedRecord): Promise<{ successor?: ChainedRecord; predecessor?: ChainedRecord; home?: ChainedRecord }> {
  const found: { successor?: ChainedRecord; predecessor?: ChainedRecord; home?: ChainedRecord } = {};
  let after: number | null = link.seq;
  for (let read = 0; read < LOOKAHEAD_RECORDS; ) {
    const page = await walk.call.scanChain(walk.account, after, walk.pageSize);
    for (const other of page) {
      if (other.record.id === link.record.id) continue;
      if (!found.successor && other.prevHash === link.hash) found.successor = other;
      if (!found.predecessor && other.hash === link.prevHash) found.predecessor = other;
      if (!found.home && (await hashRecord(walk.hasher, link.record, other.seq, other.prevHash)) === link.hash) found.home = other;
    }
    read += page.length;
    if (page.length < walk.pageSize || found.home) break;
    after = page[page.length - 1]!.seq;
  }
  return found;
}

/**
 * Walks a store's chains page by page (never holding more than a page),
 * recomputes every hash and checks every link, and reports the first break:
 * account, position, record id and kind. Appends may continue meanwhile;
 * records appended after an account's walk are checked next time.
 *
 * What it can see: any modification, deletion, insertion or reordering of
 * stored records; with a keyed chain, also by someone who recomputes hashes
 * without the key. What it cannot see without a checkpoint: the newest
 * records deleted together with the store's head record (or, for a chain
 * without a key, a chain rewritten from some record on).
 *
 * @example
 * const result = await verify(store, { key: process.env.AUDIT_CHAIN_KEY });
 * if (!result.ok) console.error(`${result.kind} at #${result.seq} (${result.record_id}): ${result.message}`);
 */
export async function verify(store: Store, options: VerifyOptions = {}): Promise<VerifyResult> {
  const { scanChain, scanUnchained, chainHeads } = store;
  if (typeof scanChain !== 'function' || typeof scanUnchained !== 'function' || typeof chainHeads !== 'function') {
    throw new TypeError('verify: the store keeps no hash chain (it lacks scanChain, scanUnchained or chainHeads)');
  }
  const pageSize = options.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 2) throw new TypeError('verify: pageSize must be an integer of 2 or more');
  if (options.hasher && options.key !== undefined) throw new TypeError('verify: give key or hasher, not both');
  const hasher = options.hasher ?? webCryptoHasher(options.key);
  const cutoff = options.acceptUnchainedBefore;
  if (cutoff !== undefined && (typeof cutoff !== 'string' || Number.isNaN(Date.parse(cutoff)))) {
    throw new TypeError('verify: acceptUnchainedBefore must be an ISO 8601 instant');
  }
  const unchainedSince = cutoff === undefined ? null : new Date(cutoff).toISOString();
  const single = options.account !== undefined;
  if (single && options.account !== null && typeof options.account !== 'string') {
    throw new TypeError('verify: account must be a string or null');
  }

  const anchors = new Map<string | null, CheckpointHead>();
  let anchorTime = '';
  if (options.checkpoint !== undefined) {
    const signingKey = options.checkpointKey ?? options.key;
    if (signingKey === undefined) throw new TypeError('verify: checking a checkpoint needs checkpointKey (or key)');
    const checkpoint = await checkCheckpoint(options.checkpoint, signingKey);
    anchorTime = checkpoint.created;
    for (const head of checkpoint.heads) anchors.set(head.account, head);
  }

  const call = { scanChain: scanChain.bind(store), scanUnchained: scanUnchained.bind(store), chainHeads: chainHeads.bind(store) };
  const retention = store.retention;
  const anchorsOf = async (account: string | null): Promise<PruneAnchor[]> => (retention ? retention.anchors(account) : []);
  let accounts: Array<string | null>;
  if (single) {
    accounts = [options.account ?? null];
  } else {
    const listed = new Set((await call.chainHeads()).map((head) => head.accountId));
    for (const account of anchors.keys()) listed.add(account);
    accounts = [...listed].sort((a, b) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1));
  }

  const summaries: ChainSummary[] = [];
  let verified = 0;

  for (const account of accounts) {
    const [before] = await call.chainHeads(account);
    const head: ChainHead = before ?? { accountId: account, seq: 0, hash: GENESIS_HASH };
    const anchor = anchors.get(account);
    const walk: AccountWalk = { call, account, pageSize, hasher };

    // A pruned chain continues from its newest prune anchor, once every anchor's signature checks.
    const pruneAnchors = await anchorsOf(account);
    let pruned: PruneAnchor | undefined;
    let finding: Finding | null = null;
    for (const candidate of pruneAnchors) {
      if (!(await checkPruneAnchor(candidate, hasher))) {
        finding = {
          seq: candidate.seq,
          record_id: null,
          kind: 'deleted',
          message:
            `the prune anchor of ${describe(account)} at #${candidate.seq} (pruned ${candidate.created}) does not match its signature: ` +
            'it was edited or forged, so the start of the chain cannot be trusted' +
            (hasher.keyed ? '' : ' (if the store was given chain.key, verify with that key)'),
        };
        break;
      }
      pruned = candidate;
    }
    let prev = pruned?.hash ?? GENESIS_HASH;
    let expected = (pruned?.seq ?? 0) + 1;
    let first = 0;
    let count = 0;
    let lastId: string | null = null;
    let afterSeq: number | null = null;

    walk: for (; finding === null; ) {
      const page = await call.scanChain(account, afterSeq, pageSize);
      for (const link of page) {
        if (first === 0) {
          first = link.seq;
          if (pruned && link.seq <= pruned.seq) {
            // A prune still deleting (or interrupted): the records up to its anchor are in its bundle.
            expected = link.seq;
            prev = link.prevHash;
          } else if (!pruned && link.seq > 1 && options.acceptPrunedStart) {
            // Retention removed the oldest records: trust the first one left to link to them.
            expected = link.seq;
            prev = link.prevHash;
          }
        }
        // The common case, without an await per record when the hasher is synchronous.
        let recomputed = hasher.hash(chainDocument(link.record, link.seq, link.prevHash));
        if (typeof recomputed !== 'string') recomputed = await recomputed;
        if (link.seq !== expected || link.prevHash !== prev || recomputed !== link.hash) {
          finding = await checkLink(walk, link, expected, prev, lastId, recomputed);
          if (finding) break walk;
        }
        if (pruned && link.seq === pruned.seq && link.hash !== pruned.hash) {
          finding = {
            seq: link.seq,
            record_id: link.record.id,
            kind: 'modified',
            message: `record #${link.seq} (${link.record.id}) is not the record the prune anchor of ${pruned.created} names (hash ${pruned.hash})`,
          };
          break walk;
        }
        if (anchor && link.seq === anchor.seq && link.hash !== anchor.hash) {
          finding = {
            seq: link.seq,
            record_id: link.record.id,
            kind: 'truncated',
            message:
              `record #${link.seq} (${link.record.id}) is not the one the checkpoint of ${anchorTime} recorded ` +
              `(hash ${anchor.hash}): the chain was rewritten from here or earlier`,
          };
          break walk;
        }
        prev = link.hash;
        lastId = link.record.id;
        expected = link.seq + 1;
        count++;
        verified++;
      }
      options.onProgress?.({ account, verified: count, ...(head.seq > 0 ? { total: head.seq } : {}) });
      if (page.length < pageSize) break;
      afterSeq = page[page.length - 1]!.seq;
    }

    const last = expected - 1;
    finding ??= await checkEnd(walk, head, last, prev, lastId);
    if (!finding && anchor && last < anchor.seq && !(options.acceptPrunedStart && first > anchor.seq)) {
      finding = {
        seq: last + 1,
        record_id: null,
        kind: 'truncated',
        message:
          `the checkpoint of ${anchorTime} recorded ${describe(account)} up to #${anchor.seq} (hash ${anchor.hash}), ` +
          `but the chain ends at #${last}: ${anchor.seq - last} record(s) from #${last + 1} on were deleted`,
      };
    }
    if (!finding) {
      const [unchained] = await call.scanUnchained(account, unchainedSince, 1);
      if (unchained) {
        finding = {
          seq: null,
          record_id: unchained.id,
          kind: 'inserted',
          message:
            `record ${unchained.id} (created ${unchained.created}) has no chain link: it was inserted behind the store's back, ` +
            (unchainedSince === null
              ? 'written by a store with chain: false, or stored before chaining was on (see acceptUnchainedBefore)'
              : `or written by a store with chain: false (it is not older than ${unchainedSince})`),
        };
      }
    }
    if (finding) {
      if (finding.kind === 'modified' && verified === 0) {
        // Every record fails with a wrong or missing key; say so rather than leave a puzzle.
        finding.message += hasher.keyed
          ? ' (a wrong key fails at the first record: is this the chain key?)'
          : ' (if the store was given chain.key, verify with that key)';
      }
      return { ok: false, account, ...finding, verified, accounts: summaries };
    }
    summaries.push({ account, first_seq: first, seq: last, hash: prev, count, pruned_through: pruned?.seq ?? 0 });
  }
  return { ok: true, verified, accounts: summaries };
}
