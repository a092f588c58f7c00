import { createHash, createHmac } from 'node:crypto';
import { chainKeyBytes, type ChainKey, type SyncChainHasher } from '@audit-trail/core';

/**
 * A synchronous chain hasher on `node:crypto`: SHA-256, or HMAC-SHA-256 with
 * `key`. Gives exactly the hashes of core's `webCryptoHasher`, many times
 * faster in Node, and works inside better-sqlite3's synchronous transactions.
 *
 * @example
 * const result = await verify(store, { hasher: nodeChainHasher(process.env.AUDIT_CHAIN_KEY) });
 */
export function nodeChainHasher(key?: ChainKey | null): SyncChainHasher {
  if (key === undefined || key === null) {
    return { keyed: false, hash: (text) => createHash('sha256').update(text, 'utf8').digest('hex') };
  }
  const raw = chainKeyBytes(key, 'key');
  return { keyed: true, hash: (text) => createHmac('sha256', raw).update(text, 'utf8').digest('hex') };
}
