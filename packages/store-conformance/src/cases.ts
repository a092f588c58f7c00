import type { ChainKey, Store } from '@audit-trail/core';

/**
 * The stable names of every conformance case, in the order they run. Each is
 * the title of one test, and the name a store gives in `skip` to opt out.
 */
export const CONFORMANCE_CASES = [
  'append then get and query return the record unchanged',
  'get returns null for an unknown id',
  'get returns null for a record of another account',
  'append ignores a record whose id is already stored',
  'append accepts an empty batch',
  'append stores a batch of 1000 records whole',
  'query orders newest first in desc',
  'query orders oldest first in asc',
  'query orders ties in created by id',
  'query filters by actionTypes',
  'query filters by resource',
  'query filters by resourceId',
  'query filters by userId',
  'query filters by userEmail',
  'query filters by appId',
  'query filters by outcome',
  'query filters by from, inclusive',
  'query filters by to, exclusive',
  'query combines filters with AND',
  'query returns at most limit records',
  'query returns nothing for an account without records',
  'paging walks every record once',
  'paging walks every filtered record once',
  'paging neither repeats nor skips while records are appended',
  'paging works after a record that does not match the filter',
  'accounts are isolated',
  'records without an account are never returned',
  'concurrent appends are all stored',
  'concurrent appends of one batch store it once',
  'close resolves',
  'chain links each account from #1 in append order',
  'chain returns records exactly as appended',
  'chain gives a record already stored no position',
  'chain stays one line under concurrent appends',
  'chain puts records without an account in a chain of their own',
  'scanChain pages by position',
  'chainHeads names every account with its newest link',
] as const;

/** The cases of the hash chain: skipped, with the reason shown, for a store without `scanChain`. */
export const CHAIN_CASES = CONFORMANCE_CASES.filter((name) => name.startsWith('chain') || name.startsWith('scanChain'));

/** The name of one conformance case. */
export type ConformanceCase = (typeof CONFORMANCE_CASES)[number];

/** What a case gets to work with. */
export interface CaseContext {
  /** A store fresh from `create()`. */
  store: Store;
  /** Closes the store now; the suite then does not close it again after the case. */
  close(): Promise<void>;
  /** Ends the case as skipped, with the reason shown in the test output (vitest's `context.skip`). */
  skip(note: string): never;
  /** The chain key the store was given, for `verify`. */
  chainKey?: ChainKey;
}

/** The body of one case: it throws (fails an `expect`) when the store does not conform. */
export type CaseBody = (context: CaseContext) => Promise<void>;
