import { AUDIT_QUERY_PARAMETERS } from '@audit-trail/core/store';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleApps, memoryStoreKind, type ExampleServer } from './support/apps.ts';

const auth = { authorization: 'Bearer demo-alice' };

/** Query strings built from real parameter names, near-misses and junk, with arbitrary values. */
const key = fc.oneof(
  fc.constantFrom(...AUDIT_QUERY_PARAMETERS),
  fc.constantFrom('account_id', 'ACTION_TYPE', 'limit[]', '__proto__', 'constructor', 'cursor ', ''),
  fc.string({ maxLength: 12 }),
);
const value = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('refund', 'refund,void', 'success', 'asc', 'desc', '50', '0', '-1', '1e3', '2026-11-27T10:00:00Z', '2026-11-27T10:00:00+25:00', 'null', '%', '%zz', ','),
  fc.integer().map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
);
const encoded = fc.array(fc.tuple(key, value), { maxLength: 6 }).map((pairs) =>
  pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'),
);
/** Raw text after `?`, with whatever escapes it happens to hold. */
const raw = fc.string({ maxLength: 60 }).map((s) => s.replace(/[#\s]/g, ''));

describe.each(exampleApps.map((app) => [app.name, app] as const))('%s example: arbitrary query strings', (_name, app) => {
  let server: ExampleServer;
  beforeAll(async () => {
    server = await app.start({ store: await memoryStoreKind.open() });
    for (let i = 0; i < 3; i++) {
      await fetch(`${server.url}/payments`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"amount":1,"currency":"EUR"}' });
    }
    await server.auditor.flush();
  });
  afterAll(() => server?.close());

  it('answers 200 or 400 in the contract format, never anything else', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(encoded, raw), async (query) => {
        const res = await fetch(`${server.url}/audit?${query}`, { headers: auth });
        const body = (await res.json()) as Record<string, unknown>;
        expect([200, 400]).toContain(res.status);
        if (res.status === 400) {
          expect(Object.keys(body).sort()).toEqual(['category', 'description', 'more_info']);
          expect(body.category).toBe('api_request_error');
        } else {
          expect(Array.isArray(body.data)).toBe(true);
          // Never another account's records, whatever was asked.
          for (const record of body.data as { account_id: string }[]) expect(record.account_id).toBe('acc_acme');
        }
      }),
      { numRuns: 150 },
    );
  }, 60_000);
});
