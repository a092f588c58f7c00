import { chainKeyBytes, type ChainKey, type SyncChainHasher } from './chain.ts';

/** The part of `node:crypto` the hasher uses. */
interface NodeCrypto {
  createHash(algorithm: 'sha256'): { update(text: string, encoding: 'utf8'): { digest(encoding: 'hex'): string } };
  createHmac(algorithm: 'sha256', key: Uint8Array): { update(text: string, encoding: 'utf8'): { digest(encoding: 'hex'): string } };
}

/**
 * `node:crypto` where the runtime has it (Node ≥ 20.16, Bun, Deno), through
 * `process.getBuiltinModule`: core imports nothing of Node, so that it loads
 * on every runtime, while stores that run on Node share one fast hasher.
 */
function nodeCrypto(): NodeCrypto {
  const runtime = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }).process;
  const crypto = runtime?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
  if (!crypto) throw new TypeError('nodeChainHasher needs node:crypto (Node 20.16 or later, Bun, Deno); use webCryptoHasher elsewhere');
  return crypto;
}

/**
 * A synchronous chain hasher on `node:crypto`: SHA-256, or HMAC-SHA-256 with
 * `key`. Gives exactly the hashes of `webCryptoHasher`, many times faster in
 * Node, and works inside synchronous transactions (better-sqlite3).
 *
 * @example
 * const result = await verify(store, { hasher: nodeChainHasher(process.env.AUDIT_CHAIN_KEY) });
 */
export function nodeChainHasher(key?: ChainKey | null): SyncChainHasher {
  const { createHash, createHmac } = nodeCrypto();
  if (key === undefined || key === null) {
    return { keyed: false, hash: (text) => createHash('sha256').update(text, 'utf8').digest('hex') };
  }
  const raw = chainKeyBytes(key, 'key');
  return { keyed: true, hash: (text) => createHmac('sha256', raw).update(text, 'utf8').digest('hex') };
}
