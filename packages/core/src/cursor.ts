import type { KeysetPosition } from './store.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Decodes canonical unpadded base64url only: the one spelling `toBase64Url`
 * writes. `atob` ignores the unused low bits of the last character, so four
 * spellings of one value would decode alike; a cursor that differs from its
 * canonical form in any character is refused.
 */
function fromBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  let binary: string;
  try {
    binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    return null;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return toBase64Url(bytes) === text ? bytes : null;
}

/** Seals and opens opaque page cursors. */
export interface CursorCodec {
  /** An opaque cursor for the position, valid only for `accountId`. */
  seal(accountId: string, position: KeysetPosition): Promise<string>;
  /** The position of a cursor, or `null` if it is malformed, forged or from another account. */
  open(accountId: string, cursor: string): Promise<KeysetPosition | null>;
}

const CREATED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Cursors are the keyset position, signed with HMAC-SHA-256 over the account
 * and the position, so a cursor cannot be forged, altered or used by another
 * account. Give every instance of an app the same `secret` so that cursors
 * survive restarts and load balancing; without one, a random per-process
 * secret is used.
 */
export function createCursorCodec(secret?: string | Uint8Array): CursorCodec {
  let raw: Uint8Array | null = null;
  if (secret !== undefined) {
    raw = typeof secret === 'string' ? encoder.encode(secret) : secret.slice();
    if (raw.length < 16) throw new TypeError('cursorSecret must be at least 16 bytes');
  }
  // Made on first use: Cloudflare Workers forbid random values at global scope, where apps build their routers.
  let key: Promise<CryptoKey> | null = null;
  const keyOf = (): Promise<CryptoKey> =>
    (key ??= crypto.subtle.importKey(
      'raw',
      (raw ?? crypto.getRandomValues(new Uint8Array(32))) as Uint8Array<ArrayBuffer>,
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    ));
  const signed = (accountId: string, payload: string) => encoder.encode(`${accountId}\n${payload}`);

  return {
    async seal(accountId, position) {
      const payload = toBase64Url(encoder.encode(JSON.stringify([position.created, position.id])));
      const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await keyOf(), signed(accountId, payload)));
      return `${payload}.${toBase64Url(mac)}`;
    },
    async open(accountId, cursor) {
      if (cursor.length > 512) return null;
      const [payload, macText, extra] = cursor.split('.');
      if (!payload || !macText || extra !== undefined) return null;
      const mac = fromBase64Url(macText);
      if (!mac || mac.length !== 32) return null;
      const ok = await crypto.subtle.verify('HMAC', await keyOf(), mac as Uint8Array<ArrayBuffer>, signed(accountId, payload));
      if (!ok) return null;
      const bytes = fromBase64Url(payload);
      if (!bytes) return null;
      try {
        const value: unknown = JSON.parse(decoder.decode(bytes));
        if (!Array.isArray(value) || value.length !== 2) return null;
        const [created, id] = value;
        if (typeof created !== 'string' || !CREATED.test(created) || typeof id !== 'string' || id.length === 0) return null;
        return { created, id };
      } catch {
        return null;
      }
    },
  };
}
