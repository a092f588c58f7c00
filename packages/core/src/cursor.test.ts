import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCursorCodec } from './cursor.ts';

const SECRET = 'a-cursor-secret-of-32-characters';
const POSITION = { created: '2026-11-27T10:00:00.123Z', id: 'aud_01JDZ3ABCDEFGHJKMNPQRSTVWX' };

const encoder = new TextEncoder();
const base64Url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

/** Signs a payload the way a codec with `secret` does, to build well-signed but odd cursors. */
async function forge(secret: string, accountId: string, payloadText: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const payload = base64Url(encoder.encode(payloadText));
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(`${accountId}\n${payload}`)));
  return `${payload}.${base64Url(mac)}`;
}

describe('createCursorCodec', () => {
  it('round-trips a position for the same account', async () => {
    const codec = createCursorCodec(SECRET);
    const cursor = await codec.seal('acc_acme', POSITION);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(await codec.open('acc_acme', cursor)).toEqual(POSITION);
  });

  it('round-trips arbitrary ids and instants', async () => {
    const codec = createCursorCodec(SECRET);
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 100 }),
        fc.date({ min: new Date(0), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
        fc.string({ maxLength: 40 }),
        async (id, date, accountId) => {
          const position = { created: date.toISOString(), id };
          expect(await codec.open(accountId, await codec.seal(accountId, position))).toEqual(position);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('is null for a cursor of another account', async () => {
    const codec = createCursorCodec(SECRET);
    const cursor = await codec.seal('acc_acme', POSITION);
    expect(await codec.open('acc_globex', cursor)).toBeNull();
    expect(await codec.open('acc_acm', cursor)).toBeNull();
    expect(await codec.open('', cursor)).toBeNull();
  });

  it('is null for a tampered payload or mac', async () => {
    const codec = createCursorCodec(SECRET);
    const cursor = await codec.seal('acc_acme', POSITION);
    const [payload, mac] = cursor.split('.') as [string, string];
    const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    expect(await codec.open('acc_acme', `${flip(payload, 0)}.${mac}`)).toBeNull();
    expect(await codec.open('acc_acme', `${flip(payload, payload.length - 1)}.${mac}`)).toBeNull();
    expect(await codec.open('acc_acme', `${payload}.${flip(mac, 0)}`)).toBeNull();
    expect(await codec.open('acc_acme', `${payload}.${mac.slice(0, -1)}`)).toBeNull();
    expect(await codec.open('acc_acme', `${payload}.${mac}A`)).toBeNull();
    expect(await codec.open('acc_acme', `${payload}.${mac}.x`)).toBeNull();
    expect(await codec.open('acc_acme', `${payload}${mac}`)).toBeNull();
    // A payload for another position under the original mac.
    const other = base64Url(encoder.encode(JSON.stringify(['2030-01-01T00:00:00.000Z', POSITION.id])));
    expect(await codec.open('acc_acme', `${other}.${mac}`)).toBeNull();
  });

  it('never opens a mutated cursor to another position', async () => {
    const codec = createCursorCodec(SECRET);
    const cursor = await codec.seal('acc_acme', POSITION);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: cursor.length - 1 }), fc.string({ minLength: 1, maxLength: 1 }), async (at, char) => {
        const mutated = cursor.slice(0, at) + char + cursor.slice(at + 1);
        const opened = await codec.open('acc_acme', mutated);
        // The last symbol of the mac carries two unused bits, so a few mutations decode to the same bytes.
        if (opened !== null) expect(opened).toEqual(POSITION);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses every one-character edit and every bit flip of valid cursors', async () => {
    const codec = createCursorCodec(SECRET);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
    const positions = [POSITION, { created: '1970-01-01T00:00:00.000Z', id: 'x' }, { created: '9999-12-31T23:59:59.999Z', id: 'aud_é' }];
    for (const position of positions) {
      const cursor = await codec.seal('acc_acme', position);
      const edits = new Set<string>();
      for (let i = 0; i < cursor.length; i++) {
        for (const char of alphabet) edits.add(cursor.slice(0, i) + char + cursor.slice(i + 1));
        for (let bit = 0; bit < 16; bit++) {
          edits.add(cursor.slice(0, i) + String.fromCharCode(cursor.charCodeAt(i) ^ (1 << bit)) + cursor.slice(i + 1));
        }
        // Deleting or inserting a character is an edit too.
        edits.add(cursor.slice(0, i) + cursor.slice(i + 1));
      }
      edits.delete(cursor);
      const opened = await Promise.all([...edits].map(async (edit) => [edit, await codec.open('acc_acme', edit)] as const));
      expect(opened.filter(([, value]) => value !== null).map(([edit]) => edit)).toEqual([]);
      expect(await codec.open('acc_acme', cursor)).toEqual(position);
    }
  });

  it('refuses non-canonical spellings of the mac (unused low bits of the last character)', async () => {
    const codec = createCursorCodec(SECRET);
    const cursor = await codec.seal('acc_acme', POSITION);
    const last = cursor.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // A 32-byte mac is 43 characters: the last holds 4 bits, so 3 other characters decode to the same bytes.
    const index = alphabet.indexOf(last);
    const twins = [1, 2, 3].map((low) => alphabet[(index & ~3) | ((index + low) & 3)]!);
    for (const twin of twins) expect(await codec.open('acc_acme', cursor.slice(0, -1) + twin)).toBeNull();
  });

  it('is null for well-signed payloads that are not positions', async () => {
    const codec = createCursorCodec(SECRET);
    const open = async (payload: string) => codec.open('acc_acme', await forge(SECRET, 'acc_acme', payload));
    expect(await open(JSON.stringify([POSITION.created, POSITION.id]))).toEqual(POSITION); // the forge is faithful
    for (const payload of [
      'not json',
      '{}',
      'null',
      '[]',
      JSON.stringify([POSITION.created]),
      JSON.stringify([POSITION.created, POSITION.id, 'extra']),
      JSON.stringify([POSITION.created, '']),
      JSON.stringify([POSITION.created, 42]),
      JSON.stringify(['2026-11-27T10:00:00Z', POSITION.id]),
      JSON.stringify(['2026-11-27 10:00:00.123Z', POSITION.id]),
      JSON.stringify([1_764_237_600_123, POSITION.id]),
      JSON.stringify({ created: POSITION.created, id: POSITION.id }),
    ]) {
      expect(await open(payload), payload).toBeNull();
    }
  });

  it('is null for garbage, and never throws', async () => {
    const codec = createCursorCodec(SECRET);
    for (const garbage of ['', '.', '..', 'abc', 'abc.', '.abc', 'a.b', '!!!.???', '====.====', 'a'.repeat(600), `${'A'.repeat(20)}.${'A'.repeat(43)}`]) {
      expect(await codec.open('acc_acme', garbage)).toBeNull();
    }
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 600 }),
          fc.stringMatching(/^[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,60}$/),
          fc.stringMatching(/^[A-Za-z0-9_=+/-]{1,60}\.[A-Za-z0-9_=+/-]{43}$/),
        ),
        async (garbage) => {
          expect(await codec.open('acc_acme', garbage)).toBeNull();
        },
      ),
      { numRuns: 500 },
    );
  });

  it('interoperates between codecs with the same secret, string or bytes', async () => {
    const a = createCursorCodec(SECRET);
    const b = createCursorCodec(SECRET);
    const c = createCursorCodec(encoder.encode(SECRET));
    const cursor = await a.seal('acc_acme', POSITION);
    expect(await b.open('acc_acme', cursor)).toEqual(POSITION);
    expect(await c.open('acc_acme', cursor)).toEqual(POSITION);
    expect(await a.open('acc_acme', await c.seal('acc_acme', POSITION))).toEqual(POSITION);
  });

  it('does not interoperate between different secrets', async () => {
    const a = createCursorCodec(SECRET);
    const b = createCursorCodec(`${SECRET}!`);
    expect(await b.open('acc_acme', await a.seal('acc_acme', POSITION))).toBeNull();
  });

  it('uses a random secret per codec when none is given', async () => {
    const a = createCursorCodec();
    const b = createCursorCodec();
    const cursor = await a.seal('acc_acme', POSITION);
    expect(await a.open('acc_acme', cursor)).toEqual(POSITION);
    expect(await b.open('acc_acme', cursor)).toBeNull();
  });

  it('rejects a secret shorter than 16 bytes', () => {
    expect(() => createCursorCodec('fifteen-chars!!')).toThrow(TypeError);
    expect(() => createCursorCodec('fifteen-chars!!')).toThrow(/16 bytes/);
    expect(() => createCursorCodec(new Uint8Array(15))).toThrow(TypeError);
    expect(() => createCursorCodec('')).toThrow(TypeError);
    expect(() => createCursorCodec('sixteen-chars!!!')).not.toThrow();
    expect(() => createCursorCodec(new Uint8Array(16))).not.toThrow();
  });
});
