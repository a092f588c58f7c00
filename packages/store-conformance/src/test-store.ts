import type { ChainKey, Store } from '@audit-trail/core';
import { describe, it } from 'vitest';
import { appendCases } from './append-cases.ts';
import { chainCases } from './chain-cases.ts';
import { CONFORMANCE_CASES, type CaseBody, type CaseContext, type ConformanceCase } from './cases.ts';
import { isolationCases } from './isolation-cases.ts';
import { pagingCases } from './paging-cases.ts';
import { queryCases } from './query-cases.ts';

export interface StoreConformanceOptions {
  /** Shown in the describe() title: `store conformance: ${name}`. */
  name: string;
  /**
   * Returns a store ready to use. Called once per test; the suite closes it
   * after the test. The store may share a database with earlier tests: the
   * suite isolates tests by using a fresh random account id (and fresh record
   * ids) in every test, so it never needs the store to be empty.
   */
  create: () => Store | Promise<Store>;
  /** Cases this store cannot pass; they are registered with `it.skip` so that the opt-out is visible in the test output. */
  skip?: readonly ConformanceCase[];
  /**
   * The `chain.key` the store was created with, if any, so that the chain
   * cases can verify its hashes. A store without `scanChain` skips the chain
   * cases by itself, visibly.
   */
  chainKey?: ChainKey;
}

/** The body of every case, by name; the type checks that none is missing. */
export const CASE_BODIES: Record<ConformanceCase, CaseBody> = {
  ...appendCases,
  ...queryCases,
  ...pagingCases,
  ...isolationCases,
  ...chainCases,
};

/** How a case ends up skipped when it finds that the store lacks what it tests. */
const noSkip = (note: string): never => {
  throw new Error(`skipped outside a test: ${note}`);
};

/** Runs one case against a store fresh from `create`, and closes the store unless the case did. */
export async function runCase(
  create: StoreConformanceOptions['create'],
  body: CaseBody,
  extra: Partial<Pick<CaseContext, 'skip' | 'chainKey'>> = {},
): Promise<void> {
  const store = await create();
  let open = true;
  const close = async () => {
    open = false;
    await store.close();
  };
  try {
    await body({ store, close, skip: extra.skip ?? noSkip, ...(extra.chainKey !== undefined ? { chainKey: extra.chainKey } : {}) });
  } catch (error) {
    // The case's own failure is the one worth reporting, not a failing close after it.
    if (open) await close().catch(() => {});
    throw error;
  }
  if (open) await close();
}

/**
 * Registers the store conformance suite as a vitest `describe` block: one
 * test per {@link CONFORMANCE_CASES} entry, each against a store fresh from
 * `create`. Call it at the top level of a test file. Every store (memory,
 * SQLite, PostgreSQL, and your own) runs the same suite unchanged; a store
 * that cannot pass a case opts out of it by name in `skip`, and the case then
 * shows as skipped.
 *
 * @example
 * // my-store.test.ts
 * import { testStore } from '@audit-trail/store-conformance';
 * import { myStore } from './my-store.ts';
 *
 * testStore({
 *   name: 'my store',
 *   create: () => myStore({ url: process.env.MY_DB_URL }),
 *   // Only while the store cannot do this yet; the test shows as skipped.
 *   skip: ['concurrent appends of one batch store it once'],
 * });
 */
export function testStore(options: StoreConformanceOptions): void {
  if (typeof options?.name !== 'string' || options.name === '') {
    throw new TypeError('testStore: name is required');
  }
  if (typeof options.create !== 'function') {
    throw new TypeError('testStore: create must be a function that returns a store');
  }
  const skip = new Set<string>(options.skip ?? []);
  const unknown = [...skip].filter((name) => !(CONFORMANCE_CASES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new TypeError(`testStore: skip names no conformance case: ${unknown.map((name) => JSON.stringify(name)).join(', ')}`);
  }
  const { create, chainKey } = options;

  describe(`store conformance: ${options.name}`, () => {
    for (const name of CONFORMANCE_CASES) {
      const body = CASE_BODIES[name];
      if (skip.has(name)) it.skip(name, () => runCase(create, body));
      else it(name, (context) => runCase(create, body, { skip: (note) => context.skip(note), ...(chainKey !== undefined ? { chainKey } : {}) }));
    }
  });
}
