import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { auditRecordSchema } from './record.ts';
import { createRedactor, FORMAT_FIELDS, passesLuhn, RECORD_TEXT_FIELDS, REDACTED, schemaFields } from './redact.ts';

/** The Luhn check digit of `body`, computed independently of the code under test. */
function luhnCheckDigit(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    // Digits at odd distance from the (future) check digit are doubled.
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

const VISA = '4111111111111111';
const MASTERCARD = '5555555555554444';
const AMEX = '378282246310005';
const DISCOVER = '6011000990139424';
const VISA_19_BODY = '4' + '0'.repeat(17);
const VISA_19 = VISA_19_BODY + luhnCheckDigit(VISA_19_BODY);

const redactor = createRedactor();
const d = (value: unknown) => redactor.details(value);

describe('passesLuhn', () => {
  it('accepts known valid numbers and rejects altered ones', () => {
    for (const pan of [VISA, MASTERCARD, AMEX, DISCOVER, VISA_19, '79927398713']) expect(passesLuhn(pan)).toBe(true);
    for (const pan of ['4111111111111112', '5555555555554445', '79927398710', '1234567812345678']) {
      expect(passesLuhn(pan)).toBe(false);
    }
  });

  it('agrees with the independent check digit', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{12,18}$/), (body) => {
        const check = luhnCheckDigit(body);
        expect(passesLuhn(body + check)).toBe(true);
        expect(passesLuhn(body + String((Number(check) + 1) % 10))).toBe(false);
      }),
    );
  });
});

describe('redaction by key', () => {
  it.each([
    'password',
    'Password',
    'new_password',
    'passwd',
    'passphrase',
    'secret',
    'client_secret',
    'clientSecret',
    'token',
    'access_token',
    'refreshToken',
    'X-Auth-Token',
    'authorization',
    'Authorization',
    'proxy-authorization',
    'cookie',
    'Cookie',
    'Set-Cookie',
    'apiKey',
    'api_key',
    'API-Key',
    'x-api-key',
    'X-API-KEY',
    'api key',
    'accessKey',
    'private_key',
    'signature',
    'card_number',
    'cardNumber',
    'card number',
    'Card-Number',
    'credit_card',
    'security_code',
    'cvv',
    'CVV',
    'cvc',
    'cvv2',
    'pan',
    'PAN',
    'pin',
    'pwd',
    'auth',
    'session',
    'session_id',
    'sessionId',
    'jwt',
    'otp',
    'ssn',
  ])('redacts the value of %j', (key) => {
    expect(d({ [key]: 'hunter2' })).toEqual({ [key]: REDACTED });
  });

  it.each(['amount', 'currency', 'author', 'company', 'panel', 'spin', 'pinned_at', 'authority', 'note', 'description'])(
    'keeps the value of %j',
    (key) => {
      expect(d({ [key]: 'plain value' })).toEqual({ [key]: 'plain value' });
    },
  );

  it('finds secret keys at any depth, in objects and arrays', () => {
    const out = d({
      amount: 100,
      user: { name: 'alice', password: 'p', profile: { settings: { api_key: 'k' } } },
      headers: [{ name: 'x', authorization: 'Basic abc' }, { cookie: 'sid=1' }],
      nested: [[{ deep: [{ cvv: '123' }] }]],
    });
    expect(out).toEqual({
      amount: 100,
      user: { name: 'alice', password: REDACTED, profile: { settings: { api_key: REDACTED } } },
      headers: [{ name: 'x', authorization: REDACTED }, { cookie: REDACTED }],
      nested: [[{ deep: [{ cvv: REDACTED }] }]],
    });
  });

  it('redacts the whole value of a secret key, whatever its type', () => {
    expect(d({ secret: { a: 1, b: [1, 2] }, token: 42, password: null, cookie: ['a', 'b'], pin: true })).toEqual({
      secret: REDACTED,
      token: REDACTED,
      password: REDACTED,
      cookie: REDACTED,
      pin: REDACTED,
    });
  });

  it('does not change the input', () => {
    const input = { password: 'p', nested: { token: 't' }, list: [{ cvv: '1' }] };
    const before = structuredClone(input);
    d(input);
    expect(input).toEqual(before);
  });
});

describe('redaction by value', () => {
  it.each([
    [VISA, REDACTED],
    ['4111 1111 1111 1111', REDACTED],
    ['4111-1111-1111-1111', REDACTED],
    [MASTERCARD, REDACTED],
    ['3782 822463 10005', REDACTED],
    [DISCOVER, REDACTED],
    [VISA_19, REDACTED],
    [`paid with ${VISA} today`, `paid with ${REDACTED} today`],
    ['card: 5555-5555-5555-4444.', `card: ${REDACTED}.`],
    [`(${AMEX})`, `(${REDACTED})`],
  ])('redacts the card number in %j', (input, expected) => {
    expect(d({ note: input })).toEqual({ note: expected });
    expect(redactor.text(input)).toBe(expected);
  });

  it('redacts a card number written next to an expiry date or a CVV', () => {
    expect(redactor.text('4111 1111 1111 1111 12/26')).not.toContain('4111 1111 1111 1111');
    expect(redactor.text(`${VISA} 123`)).not.toContain(VISA);
    expect(redactor.text(`${VISA} 123`)).toContain(REDACTED);
  });

  it('redacts a card number written after another number', () => {
    expect(redactor.text('Items: 3 4111 1111 1111 1111')).toBe(`Items: 3 ${REDACTED}`);
  });

  it('redacts a card number glued to letters', () => {
    expect(redactor.text(`card${VISA}`)).toBe(`card${REDACTED}`);
    expect(redactor.text(`x${MASTERCARD}y`)).toBe(`x${REDACTED}y`);
    expect(redactor.text(`pm_${VISA}`)).toBe(`pm_${REDACTED}`);
  });

  it('keeps Luhn-invalid digit strings and ordinary numbers', () => {
    for (const text of [
      '4111111111111112',
      '4111 1111 1111 1112',
      'order 1234567812345678',
      '2026-11-27T10:00:00.123Z',
      'call +1 415 555 0100',
      'amount 12345',
      '123456789012', // 12 digits: too short for a card number
    ]) {
      expect(d({ note: text })).toEqual({ note: text });
    }
  });

  it('redacts bearer, basic and token credentials in text', () => {
    expect(d({ note: 'Bearer xyz' })).toEqual({ note: `Bearer ${REDACTED}` });
    expect(redactor.text('Bearer xyz')).toBe(`Bearer ${REDACTED}`);
    expect(redactor.text('Authorization: Bearer abc.def-ghi_jkl~mno+pq/rs==')).toBe(`Authorization: Bearer ${REDACTED}`);
    expect(redactor.text('Basic dXNlcjpwYXNz')).toBe(`Basic ${REDACTED}`);
    expect(redactor.text('bearer lowercase-token')).toBe(`bearer ${REDACTED}`);
    expect(d({ headers: ['Bearer abc'] })).toEqual({ headers: [`Bearer ${REDACTED}`] });
  });

  it('redacts JWTs', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfYWxpY2UifQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    const out = d({ note: `session ${jwt} ok`, raw: jwt });
    expect(out).toEqual({ note: `session ${REDACTED} ok`, raw: REDACTED });
    expect(JSON.stringify(out)).not.toContain('eyJ');
  });

  it('scans bigints like text', () => {
    expect(d({ n: BigInt(VISA) })).toEqual({ n: REDACTED });
    expect(d({ n: 12345n })).toEqual({ n: '12345' });
  });
});

describe('options', () => {
  it('adds extra keys, normalised like the defaults, to the defaults', () => {
    const r = createRedactor({ keys: ['iban', 'Tax-ID'] });
    expect(r.details({ iban: 'DE89', IBAN_number: 'DE89', tax_id: '1', taxId: '2', password: 'p', name: 'n' })).toEqual({
      iban: REDACTED,
      IBAN_number: REDACTED,
      tax_id: REDACTED,
      taxId: REDACTED,
      password: REDACTED,
      name: 'n',
    });
  });

  it('replaces the default keys with replaceDefaultKeys', () => {
    const r = createRedactor({ keys: ['iban'], replaceDefaultKeys: true });
    expect(r.details({ iban: 'DE89', password: 'p', pan: 'x', token: 't' })).toEqual({
      iban: REDACTED,
      password: 'p',
      pan: 'x',
      token: 't',
    });
  });

  it('still scans values when the default keys are replaced', () => {
    const r = createRedactor({ keys: [], replaceDefaultKeys: true });
    expect(r.details({ password: VISA })).toEqual({ password: REDACTED });
  });

  it('does not look inside values with values: false, but still redacts by key', () => {
    const r = createRedactor({ values: false });
    expect(r.details({ note: `Bearer xyz ${VISA}`, password: 'p' })).toEqual({ note: `Bearer xyz ${VISA}`, password: REDACTED });
    expect(r.text(`Bearer xyz ${VISA}`)).toBe(`Bearer xyz ${VISA}`);
  });

  it('uses the censor for keys and values', () => {
    const r = createRedactor({ censor: '***' });
    expect(r.details({ password: 'p', note: `card ${VISA}`, auth: 'Bearer xyz', h: 'Bearer xyz' })).toEqual({
      password: '***',
      note: 'card ***',
      auth: '***',
      h: 'Bearer ***',
    });
  });

  it.each([0, 255, 1000.5, Number.NaN, -1])('rejects maxDetailsBytes %s', (maxDetailsBytes) => {
    expect(() => createRedactor({ maxDetailsBytes })).toThrow(TypeError);
    expect(() => createRedactor({ maxDetailsBytes })).toThrow(/maxDetailsBytes/);
  });

  it('accepts maxDetailsBytes 256', () => {
    expect(() => createRedactor({ maxDetailsBytes: 256 })).not.toThrow();
  });
});

describe('shape of details', () => {
  it('replaces cycles with "[Circular]"', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    a.list = [a, { back: a }];
    expect(d(a)).toEqual({ name: 'a', self: '[Circular]', list: ['[Circular]', { back: '[Circular]' }] });
    const list: unknown[] = [1];
    list.push(list);
    expect(d({ list })).toEqual({ list: [1, '[Circular]'] });
  });

  it('copies a value shared by two branches twice, not as a cycle', () => {
    const shared = { x: 1 };
    expect(d({ a: shared, b: shared, c: [shared, shared] })).toEqual({ a: { x: 1 }, b: { x: 1 }, c: [{ x: 1 }, { x: 1 }] });
  });

  it('cuts nesting deeper than maxDepth', () => {
    const r = createRedactor({ maxDepth: 2 });
    expect(r.details({ a: { b: { c: 1 } }, list: [[1]], flat: 1 })).toEqual({ a: { b: '[Truncated]' }, list: ['[Truncated]'], flat: 1 });
  });

  it('cuts at depth 16 by default', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 30; i++) deep = { n: deep };
    let out: unknown = d(deep);
    let levels = 0;
    while (typeof out === 'object' && out !== null && 'n' in out) {
      out = (out as { n: unknown }).n;
      levels++;
    }
    expect(out).toBe('[Truncated]');
    expect(levels).toBe(16);
  });

  it('writes dates as ISO strings and invalid dates as null', () => {
    expect(d({ at: new Date('2026-11-27T10:00:00.123Z'), bad: new Date('nope'), list: [new Date(0)] })).toEqual({
      at: '2026-11-27T10:00:00.123Z',
      bad: null,
      list: ['1970-01-01T00:00:00.000Z'],
    });
  });

  it('drops what JSON cannot hold', () => {
    const sym = Symbol('s');
    const out = d({
      keep: 1,
      undef: undefined,
      fn: () => 1,
      sym,
      [sym]: 'symbol key',
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      list: [undefined, () => 1, sym, Number.NaN, 2],
    });
    expect(out).toEqual({ keep: 1, nan: null, inf: null, list: [null, null, null, null, 2] });
    expect(Object.keys(out)).toEqual(['keep', 'nan', 'inf', 'list']);
  });

  it('fills holes of sparse arrays with null', () => {
    // eslint-disable-next-line no-sparse-arrays
    const out = d({ list: [1, , 3] });
    expect(out).toEqual({ list: [1, null, 3] });
    expect(Object.keys(out.list as unknown[])).toEqual(['0', '1', '2']);
  });

  it('wraps values that are not objects', () => {
    expect(d(undefined)).toEqual({});
    expect(d(null)).toEqual({});
    expect(d('text')).toEqual({ value: 'text' });
    expect(d(7)).toEqual({ value: 7 });
    expect(d([1, { password: 'p' }])).toEqual({ value: [1, { password: REDACTED }] });
  });

  it('always returns plain JSON', () => {
    class Point {
      constructor(
        public x: number,
        public y: number,
      ) {}
    }
    const out = d({ p: new Point(1, 2), m: new Map([['a', 1]]), e: new Error('boom') });
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
    expect(out).toEqual({ p: { x: 1, y: 2 }, m: {}, e: {} });
    expect(Object.getPrototypeOf(out.p)).toBe(Object.prototype);
  });
});

describe('oversized details', () => {
  const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

  it('is cut with a visible marker, within the limit, and the preview holds no secret', () => {
    const r = createRedactor({ maxDetailsBytes: 1024 });
    const input = {
      password: 'hunter2-very-secret',
      card: `card ${VISA}`,
      header: 'Bearer sk_live_abcdef',
      blob: 'x'.repeat(5000),
    };
    const out = r.details(input);
    expect(out._truncated).toBe(true);
    expect(out._original_bytes).toBe(bytes({ ...input, password: REDACTED, card: `card ${REDACTED}`, header: `Bearer ${REDACTED}` }));
    expect(Object.keys(out).sort()).toEqual(['_original_bytes', '_preview', '_truncated']);
    const preview = out._preview as string;
    expect(preview.length).toBeGreaterThan(0);
    expect(preview.startsWith(`{"password":"${REDACTED}","card":"card ${REDACTED}"`)).toBe(true);
    expect(preview).not.toContain('hunter2');
    expect(preview).not.toContain(VISA);
    expect(preview).not.toContain('sk_live');
    expect(bytes(out)).toBeLessThanOrEqual(1024);
  });

  it('keeps details that fit untouched', () => {
    const r = createRedactor({ maxDetailsBytes: 1024 });
    const input = { blob: 'x'.repeat(900) };
    expect(bytes(input)).toBeLessThanOrEqual(1024);
    expect(r.details(input)).toEqual(input);
  });

  it('stays within the limit with multi-byte and escaped characters', () => {
    for (const char of ['é', '😀', '"', '\\', '\n', '\u0001']) {
      const r = createRedactor({ maxDetailsBytes: 512 });
      const out = r.details({ blob: char.repeat(5000) });
      expect(out._truncated).toBe(true);
      expect(bytes(out)).toBeLessThanOrEqual(512);
    }
  });

  it('cuts at 16 KiB by default', () => {
    expect(d({ blob: 'x'.repeat(16 * 1024 - 20) })._truncated).toBeUndefined();
    expect(d({ blob: 'x'.repeat(16 * 1024) })._truncated).toBe(true);
  });
});

describe('property: a card number never survives', () => {
  /** A Luhn-valid card number of 13 to 19 digits in a known issuer range. */
  const pan = fc
    .oneof(
      fc.tuple(fc.constantFrom('4', '5', '6'), fc.stringMatching(/^\d{11,17}$/)),
      fc.tuple(fc.constantFrom('34', '37'), fc.stringMatching(/^\d{12}$/)),
      fc.tuple(fc.constantFrom('2221', '2720', '3528', '3589'), fc.stringMatching(/^\d{11}$/)),
    )
    .map(([first, rest]) => `${first}${rest}` + luhnCheckDigit(`${first}${rest}`));
  /** As printed: plain, or in groups of four with spaces or dashes. */
  const written = fc
    .tuple(pan, fc.constantFrom('', ' ', '-'))
    .map(([digits, sep]) => ({ digits, text: sep ? (digits.match(/.{1,4}/g) ?? []).join(sep) : digits }));
  const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

  it('redacts a Luhn-valid card number embedded anywhere in a string', () => {
    fc.assert(
      fc.property(written, fc.string(), fc.string(), ({ digits, text }, before, after) => {
        // Digits glued on either side would make a longer number, not this card number.
        const prefix = isDigit(before.at(-1)) ? `${before} ` : before;
        const suffix = isDigit(after[0]) ? ` ${after}` : after;
        const input = `${prefix}${text}${suffix}`;
        for (const out of [redactor.text(input), d({ note: input }).note as string]) {
          expect(out).not.toContain(text);
          expect(out.replace(/[ -]/g, '')).not.toContain(digits);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('redacts card numbers among other digit groups', () => {
    fc.assert(
      fc.property(
        written,
        fc.array(fc.stringMatching(/^\d{1,6}$/), { maxLength: 3 }),
        fc.array(fc.stringMatching(/^\d{1,6}$/), { maxLength: 3 }),
        fc.constantFrom(' ', '-'),
        ({ digits, text }, before, after, sep) => {
          const input = [...before, text, ...after].join(sep);
          expect(redactor.text(input).replace(/[ -]/g, '')).not.toContain(digits);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('detection of the written forms of card numbers', () => {
  it.each([
    ['dots', '4111.1111.1111.1111'],
    ['double spaces', '4111  1111  1111  1111'],
    ['non-breaking spaces', '4111\u00a01111\u00a01111\u00a01111'],
    ['thin spaces', '4111\u20091111\u20091111\u20091111'],
    ['underscores', '4111_1111_1111_1111'],
    ['plus signs (form encoding)', '4111+1111+1111+1111'],
    ['zero-width spaces', '4111\u200b1111\u200b1111\u200b1111'],
    ['full-width digits', '４１１１１１１１１１１１１１１１'],
    ['Arabic-Indic digits', '٤١١١١١١١١١١١١١١١'],
    ['percent-encoded spaces', '4111%201111%201111%201111'],
  ])('redacts a card number written with %s', (_name, written) => {
    expect(redactor.text(`card ${written} ok`)).toBe(`card ${REDACTED} ok`);
  });

  it('redacts a card number used as an object key', () => {
    expect(d({ [VISA]: 'visa', nested: { [`x ${MASTERCARD}`]: 1 } })).toEqual({ [REDACTED]: 'visa', nested: { [`x ${REDACTED}`]: 1 } });
  });

  it('keeps two keys that redact alike apart', () => {
    expect(Object.keys(d({ [VISA]: 1, [MASTERCARD]: 2 }))).toEqual([REDACTED, `${REDACTED}#2`]);
  });

  it('redacts a card number sent as a JSON number under an innocent key', () => {
    expect(d({ reference: Number(VISA), amount: 4200, at: 1764682578123 })).toEqual({ reference: REDACTED, amount: 4200, at: 1764682578123 });
  });

  it('redacts a card number split across adjacent array items, as strings or numbers', () => {
    expect(d({ parts: ['4111', '1111', '1111', '1111'] })).toEqual({ parts: [REDACTED, REDACTED, REDACTED, REDACTED] });
    expect(d({ parts: ['x', 5555, 5555, 5555, 4444, 'y'] })).toEqual({ parts: ['x', REDACTED, REDACTED, REDACTED, REDACTED, 'y'] });
    expect(d({ parts: [1, 2, 3] })).toEqual({ parts: [1, 2, 3] });
  });

  it('keeps the first six and last four digits in pan mode', () => {
    const pan = createRedactor({ cards: 'pan' });
    expect(pan.text('card 4111 1111 1111 1111')).toBe('card 411111******1111');
    expect(pan.details({ n: Number(AMEX) })).toEqual({ n: '378282*****0005' });
    expect(() => createRedactor({ cards: 'mask' as never })).toThrow(/redaction\.cards/);
  });

  it('leaves Luhn-valid numbers outside every issuer range', () => {
    for (const body of ['100000000000', '700000000000', '900000000000000', '000000000000000', '33000000000000', '80000000000000000']) {
      const digits = body + luhnCheckDigit(body);
      expect(passesLuhn(digits)).toBe(true);
      expect(redactor.text(digits)).toBe(digits);
    }
  });
});

describe('key names', () => {
  it.each(['pass', 'db_pass', 'stripe_key', 'signingKey', 'client-secret', 'refresh_token', 'AdminPassword', 'pass\u200bword', 'ｐａｓｓｗｏｒｄ', 'API\u00adKEY', 'aws_credentials'])(
    'redacts the value of %j',
    (key) => {
      expect(d({ [key]: 'hunter2' })).toEqual({ [key]: REDACTED });
    },
  );

  it.each(['idempotency_key', 'public_key', 'monkey', 'keyboard', 'passport', 'bypass', 'compass', 'key'])('keeps the value of %j', (key) => {
    expect(d({ [key]: 'plain value' })).toEqual({ [key]: 'plain value' });
  });
});

describe('well-known secret formats in any text', () => {
  it.each([
    ['an AWS access key id', 'AKIAIOSFODNN7EXAMPLE'],
    ['a GitHub token', `ghp_${'a1B2'.repeat(9)}`],
    ['a GitHub fine-grained token', `github_pat_11ABCDEFG0${'x'.repeat(60)}`],
    ['a Stripe secret key', `sk_live_${'4eC39HqLyjWDarjtT1zdp7dc'}`],
    ['a Stripe webhook secret', `whsec_${'a'.repeat(32)}`],
    ['a Slack token', 'xoxb-123456789012-abcdefghijkl'],
    ['a Slack webhook', 'hooks.slack.com/services/T000/B000/XXXXXXXX'],
    ['a Google API key', `AIza${'S'.repeat(35)}`],
    ['a PEM private key', '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----'],
    ['a cut PEM private key', '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg'],
  ])('redacts %s', (_name, secret) => {
    const out = redactor.text(`seen: ${secret} (end)`);
    expect(out).not.toContain(secret);
    expect(out).toContain(REDACTED);
  });

  it('redacts authorization in any spelling, credentials in URLs and secret pairs in text', () => {
    expect(redactor.text('authorization:bearer:abc123')).not.toContain('abc123');
    expect(redactor.text('BEARER=abc123')).toBe(`BEARER=${REDACTED}`);
    expect(redactor.text('https://admin:hunter22@db.example.com/x')).toBe(`https://admin:${REDACTED}@db.example.com/x`);
    expect(redactor.text('?q=1&password=hunter22&stripe_key=abc')).toBe(`?q=1&password=${REDACTED}&stripe_key=${REDACTED}`);
    expect(redactor.text('{"client_secret": "s3"}')).toBe(`{"client_secret": "${REDACTED}"}`);
  });
});

describe('innocent values', () => {
  const innocent = [
    '2026-12-02T13:36:18.123Z',
    '1764682578123',
    '1764682578',
    '1764682578123456',
    '1541815603606036480',
    '550e8400-e29b-41d4-a716-446655440000',
    '41111111-1111-1111-1111-111111111111',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    '4111111111111111411111111111111141111111111111114111111111111111',
    'da39a3ee5e6b4b0d3255bfef95601890afd80709',
    'aud_01JDZ3ABCDEFGHJKMNPQRSTVWX',
    'pay_4b8c6f7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f',
    'cus_1764682578123',
    '+1 415 555 0100',
    '192.168.100.200',
    'v1.2.3-beta.4',
    'order 1234567812345678',
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    '/payments/pay_123/captures',
    'basic',
  ];
  it.each(innocent)('keeps %j', (value) => {
    expect(redactor.text(value)).toBe(value);
    expect(d({ note: value })).toEqual({ note: value });
  });

  it('keeps innocent numbers', () => {
    const numbers = { at: 1764682578123, micros: 1764682578123456, id: 1541815603606036, amount: 1999, big: 9007199254740991 };
    expect(d(numbers)).toEqual(numbers);
  });
});

describe('the record pass', () => {
  const base = {
    id: 'aud_01JDZ3ABCDEFGHJKMNPQRSTVWX',
    created: '2026-11-27T10:00:00.123Z',
    action_type: 'get_customer',
    resource: 'customer',
    resource_id: null,
    user: { id: 'usr_alice', email: null },
    account_id: null,
    app_id: null,
    outcome: 'success',
    status_code: 200,
    request: { method: 'GET', path: null, route: null, ip: null, user_agent: null, request_id: null },
    trace: null,
    details: {},
  };
  const at = (path: string, value: string) => {
    const record: Record<string, any> = structuredClone(base);
    const [head, field] = path.split('.') as [string, string | undefined];
    if (field === undefined) record[head] = value;
    else record[head] = { ...record[head], [field]: value };
    return record;
  };
  const get = (record: Record<string, any>, path: string) => path.split('.').reduce((v, k) => v?.[k], record);

  it('covers every text field of the record schema, or the field has a closed format', () => {
    const { text } = schemaFields(auditRecordSchema);
    expect(text.length).toBeGreaterThan(10);
    for (const path of text) {
      if (FORMAT_FIELDS.includes(path)) continue;
      expect(RECORD_TEXT_FIELDS).toContain(path);
      const out = redactor.record(at(path, `x ${VISA} ghp_${'a'.repeat(36)}`));
      expect(get(out, path), path).toBe(`x ${REDACTED} ${REDACTED}`);
    }
    // Each exempt field must be one the schema itself confines to a format (or the auditor makes).
    for (const path of FORMAT_FIELDS) {
      expect(text).toContain(path);
      if (path !== 'id') expect(auditRecordSchema.safeParse(at(path, `x ${VISA}`)).success, path).toBe(false);
    }
  });

  it('redacts details and any field the schema does not know yet, and does not change its input', () => {
    const record = { ...base, resource_id: VISA, details: { password: 'p' }, extra: { note: `card ${VISA}` } };
    const before = structuredClone(record);
    expect(redactor.record(record)).toEqual({ ...base, resource_id: REDACTED, details: { password: REDACTED }, extra: { note: `card ${REDACTED}` } });
    expect(record).toEqual(before);
  });

  it('keeps a changed secret as changed with both sides censored', () => {
    const out = redactor.record({
      ...base,
      changes: {
        'settings.api_key': { from: 'old', to: 'new' },
        password: { from: null, to: 'x' },
        'card.note': { from: 'none', to: `card ${VISA}` },
        plan: { from: 'free', to: 'pro' },
      },
    });
    expect(out.changes).toEqual({
      'settings.api_key': { from: REDACTED, to: REDACTED },
      password: { from: REDACTED, to: REDACTED },
      'card.note': { from: 'none', to: `card ${REDACTED}` },
      plan: { from: 'free', to: 'pro' },
    });
    expect(redactor.changes(null)).toBeNull();
  });
});

describe('text the redactor remembers as clean', () => {
  it('answers the same for text seen before, and never remembers text that held a secret', () => {
    const redactor = createRedactor();
    const secret = 'GET /x?token=abc123';
    for (let i = 0; i < 3; i++) {
      expect(redactor.text('/payments/pay_1/refunds')).toBe('/payments/pay_1/refunds');
      expect(redactor.text(secret)).toBe('GET /x?token=[REDACTED]');
      expect(redactor.text('card 4111 1111 1111 1111')).toBe('card [REDACTED]');
    }
    // Far more distinct clean texts than it remembers: it forgets, and still answers right.
    for (let i = 0; i < 10_000; i++) expect(redactor.text(`/items/${i}`)).toBe(`/items/${i}`);
    expect(redactor.text(secret)).toBe('GET /x?token=[REDACTED]');
  });

  it('turns empty details into a fresh empty object, and deep-truncates as configured', () => {
    const redactor = createRedactor();
    const empty = {};
    const out = redactor.details(empty);
    expect(out).toEqual({});
    expect(out).not.toBe(empty);
    expect(createRedactor({ maxDepth: 0 }).details({})).toEqual({ value: '[Truncated]' });
    expect(redactor.details(Object.create({ inherited: 'x' }))).toEqual({});
  });
});

