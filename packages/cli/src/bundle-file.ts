import { once } from 'node:events';
import fs from 'node:fs';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { verifyBundle, type BundleSink, type BundleVerifyKey, type BundleVerifyResult } from '@audit-trail/core';
import { nodeChainHasher, type ChainHasher } from '@audit-trail/core/store';
import { UsageError } from './usage.ts';

/**
 * A bundle file written through a stream: refuses to overwrite a file (an
 * archive is evidence), and `close` resolves once the data is on disk (fsync).
 */
export function bundleFileSink(path: string, flag: string): BundleSink {
  let fd: number;
  try {
    fd = fs.openSync(path, 'wx', 0o644);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag}: cannot create ${path}: ${code === 'EEXIST' ? 'the file exists (a bundle is never overwritten)' : (code ?? String(error))}`);
  }
  const stream = fs.createWriteStream(path, { fd, autoClose: false });
  return {
    async write(chunk) {
      if (!stream.write(chunk)) await once(stream, 'drain');
    },
    async close() {
      stream.end();
      await once(stream, 'finish');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    },
  };
}

/** Reads a PEM file of an Ed25519 key as a Web Crypto key: the private key signs, the public key verifies. */
export async function ed25519Key(path: string, use: 'sign' | 'verify', flag: string): Promise<CryptoKey> {
  let pem: string;
  try {
    pem = fs.readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    if (use === 'sign') {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType ?? 'unknown'} key`);
      return await crypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), { name: 'Ed25519' }, true, ['sign']);
    }
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType ?? 'unknown'} key`);
    return await crypto.subtle.importKey('spki', key.export({ type: 'spki', format: 'der' }), { name: 'Ed25519' }, true, ['verify']);
  } catch (error) {
    throw new UsageError(`${flag}: ${path} is not an Ed25519 ${use === 'sign' ? 'private' : 'public'} key in PEM: ${(error as Error).message}`);
  }
}

/** The public key of an Ed25519 private key, to check a bundle just signed with it. */
export async function publicKeyOf(privateKey: CryptoKey): Promise<CryptoKey> {
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', privateKey));
  const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ type: 'spki', format: 'der' });
  return crypto.subtle.importKey('spki', spki, { name: 'Ed25519' }, true, ['verify']);
}

/** Verifies a bundle file line by line (constant memory), with `node:crypto` hashers. */
export async function verifyBundleFile(path: string, key: BundleVerifyKey, chainKey: string | undefined, keyed?: boolean): Promise<BundleVerifyResult> {
  const input = fs.createReadStream(path);
  const opened = new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', reject);
  });
  try {
    await opened;
  } catch (error) {
    throw new UsageError(`--bundle: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const lines = splitLines(input);
  let hasher: ChainHasher | undefined;
  if (chainKey !== undefined) hasher = nodeChainHasher(chainKey);
  else if (keyed === false) hasher = nodeChainHasher();
  try {
    return await verifyBundle(lines, { key, digester: nodeChainHasher(), ...(hasher ? { hasher } : {}) });
  } finally {
    input.destroy();
  }
}

/** The lines of a stream, split at `\n` only (a `\r` stays in its line, where the verifier rejects it). */
async function* splitLines(input: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of input) {
    rest += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    for (let at = rest.indexOf('\n'); at !== -1; at = rest.indexOf('\n', start)) {
      yield rest.slice(start, at);
      start = at + 1;
    }
    rest = rest.slice(start);
  }
  // A whole file ends with a newline: the empty piece after it tells the verifier so.
  yield rest + decoder.end();
}

/** Whether the first line of a bundle file says its chain is keyed; `undefined` when it cannot tell. */
export function bundleIsKeyed(path: string): boolean | undefined {
  try {
    const fd = fs.openSync(path, 'r');
    try {
      const buffer = Buffer.alloc(4096);
      const n = fs.readSync(fd, buffer, 0, buffer.length, 0);
      const first = buffer.subarray(0, n).toString('utf8').split('\n')[0]!;
      const header = JSON.parse(first) as { keyed?: unknown };
      return typeof header.keyed === 'boolean' ? header.keyed : undefined;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}
