/**
 * Secrets that must never reach a store, and innocent values that must reach
 * it unchanged. Each secret has the text sent and the `needles` whose presence
 * in a store proves it leaked (card numbers are searched digit by digit, in
 * any digit form and with any separator).
 */
export interface SecretCase {
  name: string;
  /** What is sent. */
  text: string;
  /** A card number's digits, searched in the store after digit normalisation. */
  card?: string;
  /** Substrings that must not appear anywhere in the store. */
  needles: string[];
  /** Whether the text can travel in an HTTP header (Latin-1, no line breaks). */
  header: boolean;
}

export const CARDS: Record<string, string> = {
  visa: '4111111111111111',
  visa13: '4222222222222',
  mastercard: '5555555555554444',
  mastercard2: '2221000000000009',
  amex: '378282246310005',
  discover: '6011000990139424',
  jcb: '3530111333300000',
  diners: '30569309025904',
  unionpay: '6200000000000005',
  maestro: '6759649826438453',
};

const groups = (digits: string) => digits.match(/.{1,4}/g)!;
const shift = (digits: string, zero: number) => [...digits].map((d) => String.fromCodePoint(zero + Number(d))).join('');

/** The ways a card number is written. */
export const CARD_FORMS: Record<string, (digits: string) => string> = {
  plain: (d) => d,
  spaces: (d) => groups(d).join(' '),
  dashes: (d) => groups(d).join('-'),
  dots: (d) => groups(d).join('.'),
  'double spaces': (d) => groups(d).join('  '),
  'non-breaking spaces': (d) => groups(d).join('\u00a0'),
  'zero-width spaces': (d) => groups(d).join('\u200b'),
  'full-width digits': (d) => shift(d, 0xff10),
  'Arabic-Indic digits': (d) => shift(d, 0x660),
  'percent-encoded spaces': (d) => groups(d).join('%20'),
  'in a sentence': (d) => `paid with card ${groups(d).join(' ')} exp 12/29 cvv 123`,
  'glued to letters': (d) => `pm_${d}x`,
};

const latin1 = (text: string) => /^[\x20-\x7e\xa0-\xff]*$/.test(text);

const cardCases: SecretCase[] = Object.entries(CARDS).flatMap(([brand, digits]) =>
  Object.entries(CARD_FORMS).map(([form, write]) => {
    const text = write(digits);
    return { name: `${brand} ${form}`, text, card: digits, needles: [], header: latin1(text) };
  }),
);

const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n-----END RSA PRIVATE KEY-----';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfYWxpY2UifQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';

/** [name, text, needles]: the needle is the secret part of the text. */
const TOKENS: [string, string, string][] = [
  ['AWS access key id', 'AKIAIOSFODNN7EXAMPLE', 'IOSFODNN7EXAMPLE'],
  ['AWS temporary key id', 'ASIAY34FZKBOKMUTVV7A', 'Y34FZKBOKMUTVV7A'],
  ['GitHub personal token', 'ghp_16C7e42F292c6912E7710c838347Ae178B4a', '16C7e42F292c6912E7710c838347Ae178B4a'],
  ['GitHub OAuth token', 'gho_16C7e42F292c6912E7710c838347Ae178B4a', '16C7e42F292c6912E7710c838347Ae178B4a'],
  ['GitHub fine-grained token', 'github_pat_11ABCDEFG0aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789', 'aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789'],
  ['Stripe live secret key', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc', '4eC39HqLyjWDarjtT1zdp7dc'],
  ['Stripe test restricted key', 'rk_test_51H8abcdEFGHijklMNOP', '51H8abcdEFGHijklMNOP'],
  ['Stripe webhook secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
  ['Slack bot token', 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx', 'AbCdEfGhIjKlMnOpQrStUvWx'],
  ['Slack webhook', 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX', 'XXXXXXXXXXXXXXXXXXXXXXXX'],
  ['Google API key', 'AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe', 'SyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe'],
  ['GitLab token', 'glpat-xYz0123456789AbCdEfGh', 'xYz0123456789AbCdEfGh'],
  ['PEM private key', PEM, 'MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw'],
  ['JWT', JWT, 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'],
  ['bearer token', 'Bearer abc123DEF456ghi789', 'abc123DEF456ghi789'],
  ['lower-case bearer', 'bearer abc123DEF456ghi789', 'abc123DEF456ghi789'],
  ['authorization:bearer:', 'authorization:bearer:abc123DEF456ghi789', 'abc123DEF456ghi789'],
  ['Authorization=Bearer', 'Authorization=Bearer abc123DEF456ghi789', 'abc123DEF456ghi789'],
  ['basic credentials', 'Basic dXNlcjpodW50ZXIyMg==', 'dXNlcjpodW50ZXIyMg'],
  ['credentials in a URL', 'https://admin:hunter22secret@db.example.com/app', 'hunter22secret'],
  ['credentials in a database URL', 'postgres://app:s3cr3tPw0rd@10.0.0.5:5432/audit', 's3cr3tPw0rd'],
  ['password pair', 'password=hunter22secret', 'hunter22secret'],
  ['api_key pair', 'api_key=key9f8e7d6c5b4a', 'key9f8e7d6c5b4a'],
  ['stripe_key pair', 'stripe_key: zz9f8e7d6c5b4a', 'zz9f8e7d6c5b4a'],
  ['query string secret', '?q=shoes&access_token=tok9f8e7d6c5b4a&page=2', 'tok9f8e7d6c5b4a'],
  ['JSON text secret', '{"client_secret":"cs9f8e7d6c5b4a"}', 'cs9f8e7d6c5b4a'],
];

const tokenCases: SecretCase[] = TOKENS.flatMap(([name, text, needle]) => [
  { name, text, needles: [needle], header: latin1(text) },
  { name: `${name} in a sentence`, text: `note: got ${text} from the client`, needles: [needle], header: latin1(text) },
]);

/** Every secret of the corpus. */
export const SECRETS: SecretCase[] = [...cardCases, ...tokenCases];

/** Keys whose values are secrets, sent in bodies with an innocent-looking value. */
export const SECRET_KEYS = ['password', 'pass', 'db_pass', 'stripe_key', 'signingKey', 'client-secret', 'refresh_token', 'pass\u200bword', 'ＰＡＳＳＷＯＲＤ', 'cvv', 'pan'];

/** Values that look a little like secrets and must be stored unchanged. */
export const INNOCENT: string[] = [
  '2026-12-02T13:36:18.123Z',
  '2026-12-02',
  '1764682578123',
  '1764682578',
  '1764682578123456',
  '1541815603606036480',
  '550e8400-e29b-41d4-a716-446655440000',
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  'da39a3ee5e6b4b0d3255bfef95601890afd80709',
  'd41d8cd98f00b204e9800998ecf8427e',
  'aud_01JDZ3ABCDEFGHJKMNPQRSTVWX',
  'pay_4b8c6f7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f',
  'pay_1764682578123',
  'cus_a1b2c3d4',
  'order 1234567812345678',
  '4111111111111112',
  '+1 415 555 0100',
  '192.168.100.200',
  'v1.2.3-beta.4',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'basic plan',
  'token',
];
