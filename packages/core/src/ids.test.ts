import { beforeEach, describe, expect, it, vi } from 'vitest';

// The generator keeps the last time it used (ids are strictly increasing within a
// process), so each test loads a fresh copy of the module: the tests hold in any order.
let newRecordId: typeof import('./ids.ts').newRecordId;
beforeEach(async () => {
  vi.resetModules();
  ({ newRecordId } = await import('./ids.ts'));
});

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const FORMAT = /^aud_[0-9A-HJKMNP-TV-Z]{26}$/;

/** The millisecond time in the first ten symbols of an id. */
function timeOf(id: string): number {
  let t = 0;
  for (const symbol of id.slice(4, 14)) t = t * 32 + CROCKFORD.indexOf(symbol);
  return t;
}

describe('newRecordId', () => {
  it('is aud_ and 26 Crockford base32 symbols, with the current time in front', () => {
    const before = Date.now();
    const id = newRecordId();
    const after = Date.now();
    expect(id).toMatch(FORMAT);
    expect(id).toHaveLength(30);
    expect(timeOf(id)).toBeGreaterThanOrEqual(before);
    expect(timeOf(id)).toBeLessThanOrEqual(after);
  });

  it('encodes the given time in the first ten symbols', () => {
    const t = Date.now() + 1_000;
    expect(timeOf(newRecordId(t))).toBe(t);
    expect(timeOf(newRecordId(t + 1))).toBe(t + 1);
    expect(timeOf(newRecordId(t + 86_400_000))).toBe(t + 86_400_000);
  });

  it('is unique and strictly increasing over 10,000 calls in the same millisecond', () => {
    const t = Date.now() + 2 * 86_400_000;
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(newRecordId(t));
    expect(new Set(ids).size).toBe(10_000);
    for (let i = 1; i < ids.length; i++) {
      expect(ids[i]! > ids[i - 1]!).toBe(true);
    }
    for (const id of ids) {
      expect(id).toMatch(FORMAT);
      expect(timeOf(id)).toBe(t);
    }
  });

  it('sorts with time: a later millisecond gives a greater id', () => {
    const t = Date.now() + 3 * 86_400_000;
    const times = [t, t + 1, t + 2, t + 31, t + 32, t + 1_000, t + 1_000_000, t + 365 * 86_400_000];
    const ids = times.map((time) => newRecordId(time));
    expect([...ids].sort()).toEqual(ids);
    expect(ids.map(timeOf)).toEqual(times);
  });

  it('keeps increasing when the clock goes backwards', () => {
    const t = Date.now() + 400 * 86_400_000;
    const first = newRecordId(t);
    const earlier = newRecordId(t - 60_000);
    const later = newRecordId(t - 30_000);
    expect(earlier > first).toBe(true);
    expect(later > earlier).toBe(true);
    expect(earlier).toMatch(FORMAT);
  });

  it('is random across processes: ids of one millisecond differ after the time', () => {
    const t = Date.now() + 500 * 86_400_000;
    const a = newRecordId(t);
    const b = newRecordId(t + 1);
    // Different milliseconds draw fresh randomness, so the random parts differ (2^-80 chance not).
    expect(a.slice(14)).not.toBe(b.slice(14));
  });
});
