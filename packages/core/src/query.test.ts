import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defineCatalog, paymentsOsCatalog } from './catalog.ts';
import { ApiError } from './errors.ts';
import { AUDIT_QUERY_PARAMETERS, DEFAULT_LIMIT, filterOfQuery, MAX_LIMIT, parseAuditQuery, type AuditQuery } from './query.ts';

const parse = (query: string) => parseAuditQuery(new URLSearchParams(query), paymentsOsCatalog);

/** The ApiError that parsing `query` throws; fails the test when it parses. */
function rejection(query: string): ApiError {
  try {
    parse(query);
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error(`expected ${JSON.stringify(query)} to be rejected`);
}

function expectRejected(query: string, parameter: string): ApiError {
  const error = rejection(query);
  expect(error.status).toBe(400);
  expect(error.category).toBe('api_request_error');
  expect(error.moreInfo).toBe(parameter);
  expect(error.toJSON()).toEqual({ category: 'api_request_error', description: error.description, more_info: parameter });
  expect(error.description.length).toBeGreaterThan(0);
  return error;
}

describe('parseAuditQuery', () => {
  it('has defaults for an empty query', () => {
    expect(parse('')).toEqual({ limit: DEFAULT_LIMIT, order: 'desc' });
    expect(DEFAULT_LIMIT).toBe(50);
    expect(MAX_LIMIT).toBe(500);
  });

  it('parses every parameter', () => {
    const query = parse(
      'action_type=refund&resource=payment&resource_id=pay_1&user_id=usr_alice&user_email=alice%40example.com' +
        '&app_id=app_1&outcome=failure&from=2026-11-27T10:00:00Z&to=2026-11-28T10:00:00.5%2B02:00&limit=10&cursor=abc.def&order=asc',
    );
    expect(query).toEqual({
      action_type: ['refund'],
      resource: 'payment',
      resource_id: 'pay_1',
      user_id: 'usr_alice',
      user_email: 'alice@example.com',
      app_id: 'app_1',
      outcome: 'failure',
      from: '2026-11-27T10:00:00.000Z',
      to: '2026-11-28T08:00:00.500Z',
      limit: 10,
      cursor: 'abc.def',
      order: 'asc',
    } satisfies AuditQuery);
  });

  it('rejects an unknown parameter, naming it', () => {
    expect(expectRejected('actor=usr_alice', 'actor').description).toContain('actor');
    expectRejected('limit=5&Limit=5', 'Limit');
    expectRejected('offset=10', 'offset');
    expectRejected('constructor=1', 'constructor');
    expectRejected('toString=1', 'toString');
    expectRejected('__proto__=1', '__proto__');
    expectRejected('__proto__=1&__proto__=2', '__proto__');
    expectRejected('unknown=1&unknown=2', 'unknown');
    expectRejected('=1', '');
  });

  describe('action_type', () => {
    it('takes repeated and comma-separated values', () => {
      expect(parse('action_type=refund').action_type).toEqual(['refund']);
      expect(parse('action_type=refund&action_type=void').action_type).toEqual(['refund', 'void']);
      expect(parse('action_type=refund,void').action_type).toEqual(['refund', 'void']);
      expect(parse('action_type=refund,void&action_type=capture').action_type).toEqual(['refund', 'void', 'capture']);
      expect(parse('action_type=refund,%20void,').action_type).toEqual(['refund', 'void']);
      expect(parse('action_type=retrieve_audit_data').action_type).toEqual(['retrieve_audit_data']);
    });

    it('rejects an unknown action type, naming it', () => {
      expect(expectRejected('action_type=refnd', 'action_type').description).toContain('refnd');
      expect(expectRejected('action_type=refund,refnd', 'action_type').description).toContain('refnd');
      expect(expectRejected('action_type=refund&action_type=REFUND', 'action_type').description).toContain('REFUND');
      expectRejected('action_type=toString', 'action_type');
      expectRejected('action_type=__proto__', 'action_type');
    });

    it('rejects an empty action_type', () => {
      expectRejected('action_type=', 'action_type');
      expectRejected('action_type=,', 'action_type');
      expectRejected('action_type=%20', 'action_type');
      expectRejected('action_type', 'action_type');
    });

    it('knows the catalog it is given', () => {
      const catalog = defineCatalog({ approve_invoice: 'invoice' });
      expect(parseAuditQuery(new URLSearchParams('action_type=approve_invoice'), catalog).action_type).toEqual(['approve_invoice']);
      expect(() => parseAuditQuery(new URLSearchParams('action_type=refund'), catalog)).toThrow(ApiError);
      expect(parse('action_type=refund').action_type).toEqual(['refund']);
    });
  });

  describe('limit', () => {
    it.each([
      ['1', 1],
      ['50', 50],
      ['500', 500],
      ['007', 7],
    ])('accepts %j', (value, limit) => {
      expect(parse(`limit=${value}`).limit).toBe(limit);
    });

    it.each(['0', '501', '1000', '99999', 'abc', '1.5', ' 5', '5 ', '-1', '+5', '1e2', '0x10', '', '５'])('rejects %j', (value) => {
      expect(expectRejected(`limit=${encodeURIComponent(value)}`, 'limit').description).toContain('500');
    });
  });

  describe('from and to', () => {
    it.each([
      ['2026-11-27T10:00:00Z', '2026-11-27T10:00:00.000Z'],
      ['2026-11-27T10:00:00.123Z', '2026-11-27T10:00:00.123Z'],
      ['2026-11-27T11:00:00+01:00', '2026-11-27T10:00:00.000Z'],
      ['2026-11-27T05:30:00.250-04:30', '2026-11-27T10:00:00.250Z'],
      ['2026-11-28T00:30:00+14:00', '2026-11-27T10:30:00.000Z'],
      ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ])('accepts %j as %j', (value, utc) => {
      const query = parse(`from=${encodeURIComponent(value)}&to=${encodeURIComponent(value)}`);
      expect(query.from).toBe(utc);
      expect(query.to).toBe(utc);
    });

    it.each([
      '2026-11-27T10:00:00', // no zone
      '2026-11-27T10:00:00.123', // no zone
      '2026-11-27', // a day, not an instant
      '2026-13-01T00:00:00Z', // month 13
      '2026-00-10T00:00:00Z',
      '2026-02-30T00:00:00Z',
      '2025-02-29T00:00:00Z', // not a leap year
      '2026-11-31T00:00:00Z',
      '2026-11-27T25:00:00Z',
      '2026-11-27T10:60:00Z',
      '2026-11-27 10:00:00Z',
      '1764237600',
      'yesterday',
      '',
    ])('rejects %j', (value) => {
      expectRejected(`from=${encodeURIComponent(value)}`, 'from');
      expectRejected(`to=${encodeURIComponent(value)}`, 'to');
    });
  });

  describe('order', () => {
    it('accepts desc and asc, default desc', () => {
      expect(parse('order=asc').order).toBe('asc');
      expect(parse('order=desc').order).toBe('desc');
      expect(parse('').order).toBe('desc');
    });

    it.each(['DESC', 'ascending', '', 'random'])('rejects %j', (value) => {
      expectRejected(`order=${value}`, 'order');
    });
  });

  describe('outcome', () => {
    it('accepts success and failure', () => {
      expect(parse('outcome=success').outcome).toBe('success');
      expect(parse('outcome=failure').outcome).toBe('failure');
    });

    it.each(['ok', 'SUCCESS', ''])('rejects %j', (value) => {
      expectRejected(`outcome=${value}`, 'outcome');
    });
  });

  it.each(['resource', 'resource_id', 'user_id', 'user_email', 'app_id', 'cursor'])('rejects an empty or overlong %s', (name) => {
    expectRejected(`${name}=`, name);
    expectRejected(`${name}=${'x'.repeat(513)}`, name);
    expect(parse(`${name}=${'x'.repeat(512)}`)[name as keyof AuditQuery]).toBe('x'.repeat(512));
  });

  it.each(AUDIT_QUERY_PARAMETERS.filter((p) => p !== 'action_type'))('rejects %s given twice, naming it', (name) => {
    const value = name === 'limit' ? '5' : name === 'order' ? 'asc' : name === 'outcome' ? 'success' : name === 'from' || name === 'to' ? '2026-11-27T10:00:00Z' : 'x';
    expect(expectRejected(`${name}=${value}&${name}=${value}`, name).description).toContain(name);
  });

  it('either parses or throws a 400 ApiError naming a parameter, for any query string', () => {
    const key = fc.oneof(fc.constantFrom(...AUDIT_QUERY_PARAMETERS), fc.string({ maxLength: 12 }));
    const value = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom('refund', 'refund,void', '10', '0', '2026-11-27T10:00:00Z', 'asc', 'success', ''),
    );
    const structured = fc
      .array(fc.tuple(key, value), { maxLength: 6 })
      .map((pairs) => new URLSearchParams(pairs).toString());
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), structured), (queryString) => {
        const params = new URLSearchParams(queryString);
        let query: AuditQuery;
        try {
          query = parseAuditQuery(params, paymentsOsCatalog);
        } catch (error) {
          expect(error).toBeInstanceOf(ApiError);
          const apiError = error as ApiError;
          expect(apiError.status).toBe(400);
          expect(apiError.category).toBe('api_request_error');
          expect([...params.keys()]).toContain(apiError.moreInfo);
          return;
        }
        expect(query.limit).toBeGreaterThanOrEqual(1);
        expect(query.limit).toBeLessThanOrEqual(MAX_LIMIT);
        expect(['asc', 'desc']).toContain(query.order);
        for (const name of params.keys()) expect(AUDIT_QUERY_PARAMETERS as readonly string[]).toContain(name);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('filterOfQuery', () => {
  it('maps every filter and removes repeated action types', () => {
    expect(
      filterOfQuery(
        parse(
          'action_type=refund,void,refund&resource=payment&resource_id=pay_1&user_id=u&user_email=e%40x.com&app_id=a&outcome=success' +
            '&from=2026-11-27T10:00:00Z&to=2026-11-28T10:00:00Z&limit=5&order=asc&cursor=c',
        ),
      ),
    ).toEqual({
      actionTypes: ['refund', 'void'],
      resource: 'payment',
      resourceId: 'pay_1',
      userId: 'u',
      userEmail: 'e@x.com',
      appId: 'a',
      outcome: 'success',
      from: '2026-11-27T10:00:00.000Z',
      to: '2026-11-28T10:00:00.000Z',
    });
  });

  it('is empty without filters', () => {
    expect(filterOfQuery(parse('limit=5&order=asc'))).toEqual({});
  });
});
