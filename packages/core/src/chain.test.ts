import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  chainDocument,
  GENESIS_HASH,
  groupByAccount,
  linkRecords,
  linkRecordsSync,
  resolveChainOption,
  webCryptoHasher,
  type ChainHasher,
} from './chain.ts';
import type { AuditRecord } from './record.ts';

/** The hasher the Node stores use, written here again so that the comparison does not share code. */
const nodeHasher = (key?: string): ChainHasher =>
  key === undefined
    ? { keyed: false, hash: (text) => createHash('sha256').update(text, 'utf8').digest('hex') }
    : { keyed: true, hash: (text) => createHmac('sha256', key).update(text, 'utf8').digest('hex') };

/** The worked example of CHAIN.md. */
const example: AuditRecord = {
  id: 'aud_01JDZ3ABCDEFGHJKMNPQRSTVWX',
  created: '2026-11-27T10:00:00.123Z',
  action_type: 'refund',
  resource: 'payment',
  resource_id: 'pay_123',
  user: { id: 'usr_alice', email: 'alice@example.com' },
  account_id: 'acc_acme',
  app_id: null,
  outcome: 'success',
  status_code: 201,
  request: {
    method: 'POST',
    path: '/payments/pay_123/refunds',
    route: '/payments/:payment_id/refunds',
    ip: '127.0.0.1',
    user_agent: 'curl/8.5',
    request_id: null,
  },
  trace: null,
  details: { reason: 'duplicate "charge"\n', amount: 1050, rate: 0.1, zeta: [true, null], Émile: 'é', a: { b: 2, a: 1 } },
  changes: null,
};

const EXAMPLE_DOCUMENT =
  '{"chain_seq":1,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","record":{"account_id":"acc_acme",' +
  '"action_type":"refund","app_id":null,"created":"2026-11-27T10:00:00.123Z","details":{"a":{"a":1,"b":2},"amount":1050,"rate":0.1,' +
  '"reason":"duplicate \\"charge\\"\\n","zeta":[true,null],"Émile":"é"},"id":"aud_01JDZ3ABCDEFGHJKMNPQRSTVWX","outcome":"success",' +
  '"request":{"ip":"127.0.0.1","method":"POST","path":"/payments/pay_123/refunds","request_id":null,"route":"/payments/:payment_id/refunds",' +
  '"user_agent":"curl/8.5"},"resource":"payment","resource_id":"pay_123","status_code":201,"trace":null,' +
  '"user":{"email":"alice@example.com","id":"usr_alice"}},"v":1}';

const KEY = 'an-example-key-of-32-characters!';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: [1, { y: 2, x: 1 }], a: { d: null, c: 1.5 } })).toBe('{"a":{"c":1.5,"d":null},"b":[1,{"x":1,"y":2}]}');
  });

  it('is independent of key order', () => {
    const one = { z: 1, a: { m: [1, 2], b: 'x' } };
    const other = { a: { b: 'x', m: [1, 2] }, z: 1 };
    expect(canonicalJson(one)).toBe(canonicalJson(other));
  });

  it('writes numbers and strings as JSON.stringify does', () => {
    expect(canonicalJson([0, -0, 1, -7, 0.1, 3.25, 1e21, 1.5e-7, 2 ** 53 - 1])).toBe('[0,0,1,-7,0.1,3.25,1e+21,1.5e-7,9007199254740991]');
    expect(canonicalJson('a"b\\c\n\t\b\f\r\u0001\u001f\u007f/\u2028é🧾')).toBe(JSON.stringify('a"b\\c\n\t\b\f\r\u0001\u001f\u007f/\u2028é🧾'));
    expect(canonicalJson([true, false, null])).toBe('[true,false,null]');
  });

  it('sorts keys by UTF-16 code units, as RFC 8785 does', () => {
    // U+FB01 sorts after U+1F600 by code point, before it by code unit (0xD83D < 0xFB01).
    expect(canonicalJson({ 'ﬁ': 1, '😀': 2, Z: 3, a: 4, '': 5 })).toBe('{"":5,"Z":3,"a":4,"😀":2,"ﬁ":1}');
  });

  it('replaces lone surrogates with U+FFFD, as UTF-8 storage does', () => {
    expect(canonicalJson({ ['k\uD800']: 'v\uDC00x' })).toBe('{"k\uFFFD":"v\uFFFDx"}');
    // A valid pair stays.
    expect(canonicalJson('\uD83E\uDDFE')).toBe('"🧾"');
  });

  it('leaves out undefined members and writes non-finite numbers and holes as null, like JSON.stringify', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, Number.NaN, Infinity], c: 1 })).toBe('{"b":[null,null,null],"c":1}');
  });

  it('equals JSON.stringify with sorted keys for any JSON value', () => {
    // A second, plainer writing of the rules (an object rebuilt with sorted keys would not do: JS puts "0" before "").
    const sortedStringify = (value: unknown): string =>
      Array.isArray(value)
        ? `[${value.map(sortedStringify).join(',')}]`
        : value !== null && typeof value === 'object'
          ? `{${Object.keys(value)
              .sort()
              .map((key) => `${JSON.stringify(key)}:${sortedStringify((value as Record<string, unknown>)[key])}`)
              .join(',')}}`
          : JSON.stringify(value);
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        // Well-formed text only here: JSON.stringify escapes lone surrogates where the canonical form replaces them.
        const text = JSON.stringify(value);
        fc.pre(!/\\ud[89a-f]/i.test(text));
        expect(canonicalJson(value)).toBe(sortedStringify(value));
      }),
    );
  });
});

describe('chainDocument', () => {
  it('is the worked example of CHAIN.md, with its hashes', async () => {
    expect(chainDocument(example, 1, GENESIS_HASH)).toBe(EXAMPLE_DOCUMENT);
    const [first] = await linkRecords(null, [example], webCryptoHasher());
    expect(first!.hash).toBe('9b2ce34af0e295306c76dfff8e411962c6ca8dd471d6d67f2effc9a4c71a850a');
    const [keyed] = await linkRecords(null, [example], webCryptoHasher(KEY));
    expect(keyed!.hash).toBe('b1dd79efa2ba33789cec13d079c0e046d458dafc271e9d02acebd03368d94f51');
    const [, second] = await linkRecords(null, [example, { ...example, id: 'aud_01JDZ3ABCDEFGHJKMNPQRSTVWY' }], webCryptoHasher());
    expect(second).toMatchObject({ seq: 2, prevHash: first!.hash, hash: 'b9181a247e6590d147f6ff3a19764821177cb557f0ce05432d8d1d617e8a8ebf' });
  });

  it('covers every field, the position and the previous hash', () => {
    const base = chainDocument(example, 1, GENESIS_HASH);
    const variants: AuditRecord[] = [
      { ...example, created: '2026-11-27T10:00:00.124Z' },
      { ...example, action_type: 'void' },
      { ...example, resource_id: null },
      { ...example, user: { ...example.user, email: null } },
      { ...example, account_id: 'acc_other' },
      { ...example, app_id: 'app_1' },
      { ...example, outcome: 'failure' },
      { ...example, status_code: 200 },
      { ...example, request: { ...example.request, ip: '10.0.0.1' } },
      { ...example, trace: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' } },
      { ...example, details: { ...example.details, amount: 1051 } },
      { ...example, changes: {} },
      { ...example, changes: { url: { from: 'https://a.example/hook', to: 'https://b.example/hook' } } },
    ];
    for (const variant of variants) expect(chainDocument(variant, 1, GENESIS_HASH)).not.toBe(base);
    expect(chainDocument(example, 2, GENESIS_HASH)).not.toBe(base);
    expect(chainDocument(example, 1, 'f'.repeat(64))).not.toBe(base);
  });

  it('is the canonical JSON of { v, chain_seq, prev_hash, record } for any record', () => {
    fc.assert(
      fc.property(arbitraryRecord, fc.nat(), fc.string(), (record, seq, prev) => {
        const { id, created, action_type, resource, resource_id, user, account_id, app_id, outcome, status_code, request, trace, details, changes } = record;
        const fields = { id, created, action_type, resource, resource_id, user, account_id, app_id, outcome, status_code, request, trace, details };
        // `changes` is part of the document only when recorded: null leaves the hashes of earlier records as they were.
        if (changes !== null) Object.assign(fields, { changes });
        expect(chainDocument(record, seq, prev)).toBe(canonicalJson({ v: 1, chain_seq: seq, prev_hash: prev, record: fields }));
      }),
    );
  });

  it('does not depend on the order of keys, nor on extra fields a store might add', () => {
    const { details: _details, id, ...rest } = example;
    const shuffled = JSON.parse(JSON.stringify({ details: {}, id, ...rest, extra: 'ignored' })) as AuditRecord;
    shuffled.details = { a: { a: 1, b: 2 }, zeta: [true, null], Émile: 'é', rate: 0.1, amount: 1050, reason: 'duplicate "charge"\n' };
    expect(chainDocument(shuffled, 1, GENESIS_HASH)).toBe(EXAMPLE_DOCUMENT);
  });

  it('leaves out changes that are null or absent, so that records hashed before changes existed still verify', () => {
    const { changes: _changes, ...before } = example;
    expect(chainDocument(before as AuditRecord, 1, GENESIS_HASH)).toBe(EXAMPLE_DOCUMENT);
  });

  it('is the worked example of CHAIN.md with changes', async () => {
    const changed: AuditRecord = { ...example, changes: { 'retry.max_attempts': { from: 3, to: 5 }, url: { from: 'https://a.example/hook', to: null } } };
    expect(chainDocument(changed, 1, GENESIS_HASH)).toBe(
      EXAMPLE_DOCUMENT.replace('"app_id":null,', '"app_id":null,"changes":{"retry.max_attempts":{"from":3,"to":5},"url":{"from":"https://a.example/hook","to":null}},'),
    );
    const [first] = await linkRecords(null, [changed], webCryptoHasher());
    expect(first!.hash).toBe(nodeHasher().hash(chainDocument(changed, 1, GENESIS_HASH)));
    expect(first!.hash).toBe(CHANGES_EXAMPLE_HASH);
  });
});

/** CHAIN.md's second worked example: the first one with `changes`. */
const CHANGES_EXAMPLE_HASH = 'a4243d285fd6aa3a98e18dae82a075f6c910c1a504fb7b5e73d0260ce75ed157';

const arbitraryRecord: fc.Arbitrary<AuditRecord> = fc.record({
  id: fc.string({ minLength: 1 }),
  created: fc.date({ min: new Date(0), max: new Date(253_402_300_799_999), noInvalidDate: true }).map((d) => d.toISOString()),
  action_type: fc.constantFrom('refund', 'void', 'charge'),
  resource: fc.constantFrom('payment'),
  resource_id: fc.option(fc.string({ unit: 'binary' })),
  user: fc.record({ id: fc.string({ minLength: 1 }), email: fc.option(fc.string()) }),
  account_id: fc.option(fc.string()),
  app_id: fc.option(fc.string()),
  outcome: fc.constantFrom('success' as const, 'failure' as const),
  status_code: fc.option(fc.integer({ min: 100, max: 599 })),
  request: fc.record({
    method: fc.option(fc.string()),
    path: fc.option(fc.string({ unit: 'binary' })),
    route: fc.option(fc.string()),
    ip: fc.option(fc.string()),
    user_agent: fc.option(fc.string({ unit: 'binary' })),
    request_id: fc.option(fc.string()),
  }),
  trace: fc.option(fc.record({ trace_id: fc.string(), span_id: fc.string() })),
  details: fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue()) as fc.Arbitrary<AuditRecord['details']>,
  changes: fc.option(fc.dictionary(fc.string({ unit: 'binary' }), fc.record({ from: fc.jsonValue(), to: fc.jsonValue() }))) as fc.Arbitrary<
    AuditRecord['changes']
  >,
});

describe('hashers', () => {
  it('Web Crypto and node:crypto give identical hashes, keyed and not, for any record', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbitraryRecord, { minLength: 1, maxLength: 5 }), async (records) => {
        for (const key of [undefined, KEY]) {
          const web = await linkRecords(null, records, webCryptoHasher(key));
          const node = linkRecordsSync(null, records, nodeHasher(key));
          expect(web.map((l) => l.hash)).toEqual(node.map((l) => l.hash));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a string key is its UTF-8 bytes', async () => {
    const text = 'clé-de-chaîne-16+';
    const [fromText] = await linkRecords(null, [example], webCryptoHasher(text));
    const [fromBytes] = await linkRecords(null, [example], webCryptoHasher(new TextEncoder().encode(text)));
    expect(fromText!.hash).toBe(fromBytes!.hash);
  });

  it('refuses keys shorter than 16 bytes and options of the wrong shape, naming the option', () => {
    expect(() => webCryptoHasher('short')).toThrow(/key must be at least 16 bytes/);
    expect(() => resolveChainOption({ key: 'short' }, 'myStore')).toThrow('myStore: chain.key must be at least 16 bytes');
    expect(() => resolveChainOption({ key: 42 }, 'myStore')).toThrow('myStore: chain.key must be a string or a Uint8Array');
    expect(() => resolveChainOption('yes', 'myStore')).toThrow(/myStore: chain must be false or an object/);
    expect(resolveChainOption(false, 'myStore')).toBeNull();
    expect(resolveChainOption(undefined, 'myStore')).toEqual({ key: null });
  });
});

describe('linkRecords', () => {
  it('starts at 1 after the genesis hash and continues from a head', async () => {
    const records = [example, { ...example, id: 'aud_2' }, { ...example, id: 'aud_3' }];
    const links = await linkRecords(null, records, webCryptoHasher());
    expect(links.map((l) => l.seq)).toEqual([1, 2, 3]);
    expect(links[0]!.prevHash).toBe(GENESIS_HASH);
    expect(links[1]!.prevHash).toBe(links[0]!.hash);
    const more = await linkRecords({ seq: 3, hash: links[2]!.hash }, [{ ...example, id: 'aud_4' }], webCryptoHasher());
    expect(more[0]).toMatchObject({ seq: 4, prevHash: links[2]!.hash });
    expect(linkRecordsSync(null, records, nodeHasher())).toEqual(links);
  });

  it('refuses an asynchronous hasher in linkRecordsSync', () => {
    expect(() => linkRecordsSync(null, [example], webCryptoHasher())).toThrow(/synchronously/);
  });

  it('groups a batch by account in batch order, without repeated ids', () => {
    const a1 = { ...example, id: 'a1', account_id: 'a' };
    const b1 = { ...example, id: 'b1', account_id: 'b' };
    const n1 = { ...example, id: 'n1', account_id: null };
    const a2 = { ...example, id: 'a2', account_id: 'a' };
    const groups = groupByAccount([a1, b1, n1, a2, a1]);
    expect([...groups].map(([account, records]) => [account, records.map((r) => r.id)])).toEqual([
      ['a', ['a1', 'a2']],
      ['b', ['b1']],
      [null, ['n1']],
    ]);
  });
});
