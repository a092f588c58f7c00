import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAuditor } from './auditor.ts';
import { diffChanges, pathKeys, TRUNCATED_CHANGES_PATH } from './changes.ts';
import { memoryStore } from './memory-store.ts';
import type { AuditChanges, JsonValue } from './record.ts';
import { createRedactor, REDACTED } from './redact.ts';

type Container = JsonValue[] | { [key: string]: JsonValue };

/** Applies `changes` to a copy of `before`, reading each path into the containers `before` has. */
function applyChanges(before: JsonValue, changes: AuditChanges): JsonValue {
  const root = structuredClone(before) as Container;
  for (const [path, { to }] of Object.entries(changes)) {
    const keys = pathKeys(path);
    let at = root as Container;
    for (const key of keys.slice(0, -1)) at = (at as Record<string, JsonValue>)[key] as Container;
    const last = keys.at(-1)!;
    if (to === null && !Array.isArray(at)) delete (at as Record<string, JsonValue>)[last];
    else Object.defineProperty(at, last, { value: to, enumerable: true, writable: true, configurable: true });
  }
  return root;
}

/** `null` members left out and trailing `null`s of arrays dropped: what `from`/`to` `null` cannot tell apart. */
function normalise(value: JsonValue): JsonValue {
  if (Array.isArray(value)) {
    // Array.from, not map: a hole (left by setting a later index) is a null, as in JSON.
    const out = Array.from(value, (item) => normalise(item ?? null));
    while (out.length > 0 && out.at(-1) === null) out.pop();
    return out;
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => [k, normalise(v)]),
    );
  }
  return value;
}

const object = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })) as fc.Arbitrary<{ [key: string]: JsonValue }>;

describe('diffChanges', () => {
  it('lists the contract example, nested paths, array indexes, added and removed fields', () => {
    expect(
      diffChanges(
        { url: 'https://a.example/hook', retry: { max_attempts: 3 }, events: ['a', 'b', 'c'], old: 1, same: { x: [1] } },
        { url: 'https://b.example/hook', retry: { max_attempts: 5 }, events: ['a', 'b', 'd'], added: { y: true }, same: { x: [1] } },
      ),
    ).toEqual({
      url: { from: 'https://a.example/hook', to: 'https://b.example/hook' },
      'retry.max_attempts': { from: 3, to: 5 },
      'events.2': { from: 'c', to: 'd' },
      old: { from: 1, to: null },
      added: { from: null, to: { y: true } },
    });
  });

  it('records a delete as every field to null, and a create as every field from null', () => {
    expect(diffChanges({ id: 'whk_1', url: 'u' }, null)).toEqual({ id: { from: 'whk_1', to: null }, url: { from: 'u', to: null } });
    expect(diffChanges(undefined, { id: 'whk_1' })).toEqual({ id: { from: null, to: 'whk_1' } });
    expect(diffChanges({ a: 1 }, { a: 1 })).toEqual({});
  });

  it('escapes dots in keys and reads values as JSON', () => {
    const changes = diffChanges({ 'a.b': 1, when: new Date(0) }, { 'a.b': 2, when: new Date(1000), fn: () => 1 });
    expect(changes).toEqual({ 'a\\.b': { from: 1, to: 2 }, when: { from: '1970-01-01T00:00:00.000Z', to: '1970-01-01T00:00:01.000Z' } });
    expect(pathKeys('a\\.b.c')).toEqual(['a.b', 'c']);
  });

  it('keeps at most maxChanges entries and counts the rest in a visible marker', () => {
    const before = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i]));
    const changes = diffChanges(before, {}, { maxChanges: 3 });
    expect(Object.keys(changes)).toEqual(['k0', 'k1', 'k2', TRUNCATED_CHANGES_PATH]);
    expect(changes[TRUNCATED_CHANGES_PATH]).toEqual({ from: null, to: '7 more changes truncated' });
    expect(() => diffChanges({}, {}, { maxChanges: 0 })).toThrow(/maxChanges/);
  });

  it('gives changes that turn before into after (null counting as absent)', () => {
    fc.assert(
      fc.property(object, object, (before, after) => {
        const changes = diffChanges(before, after, { maxChanges: 1_000_000 });
        expect(normalise(applyChanges(before, changes))).toEqual(normalise(after));
        expect(Object.keys(changes).length === 0).toBe(isDeepStrictEqual(normalise(before), normalise(after)));
      }),
    );
  });

  it('finds no change between a value and itself, and some between different values', () => {
    fc.assert(
      fc.property(object, (value) => {
        expect(diffChanges(value, structuredClone(value))).toEqual({});
        expect(Object.keys(diffChanges(value, { ...value, __changed: 'x' })).length).toBeGreaterThan(0);
      }),
    );
  });
});

describe('changes in the redaction pass', () => {
  const redactor = createRedactor();

  it('lists a changed secret with both sides redacted, and redacts values like details values', () => {
    const changes = redactor.changes(
      diffChanges(
        { secret: 'old-signing-secret', auth: { api_key: 'k1' }, note: 'card 4111 1111 1111 1111', config: { password: 'a' } },
        { secret: 'new-signing-secret', auth: { api_key: 'k2' }, note: 'card 4111 1111 1111 1112', config: { password: 'b', x: 1 } },
      ),
    );
    expect(changes).toEqual({
      secret: { from: REDACTED, to: REDACTED },
      'auth.api_key': { from: REDACTED, to: REDACTED },
      note: { from: `card ${REDACTED}`, to: 'card 4111 1111 1111 1112' },
      'config.password': { from: REDACTED, to: REDACTED },
      'config.x': { from: null, to: 1 },
    });
    // A whole value that holds a secret key is redacted inside.
    expect(redactor.changes({ added: { from: null, to: { token: 't', name: 'n' } } })).toEqual({ added: { from: null, to: { token: REDACTED, name: 'n' } } });
  });

  it('cuts oversized changes with a visible marker', () => {
    const small = createRedactor({ maxDetailsBytes: 512 });
    const changes = small.changes(diffChanges({}, Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`field${i}`, 'x'.repeat(20)]))))!;
    expect(new TextEncoder().encode(JSON.stringify(changes)).length).toBeLessThanOrEqual(512);
    const kept = Object.keys(changes).length - 1;
    expect(changes[TRUNCATED_CHANGES_PATH]).toEqual({ from: null, to: `${50 - kept} more changes truncated` });
  });

  it('goes into records of the manual API, redacted, and null by default', async () => {
    const auditor = createAuditor({ store: memoryStore(), onError: () => {} });
    const user = { id: 'usr_alice' };
    const record = auditor.record({
      action_type: 'update_webhook_configuration',
      user,
      account_id: 'acc_acme',
      changes: diffChanges({ url: 'https://a.example', secret: 's1' }, { url: 'https://b.example', secret: 's2' }),
    });
    expect(record.changes).toEqual({ url: { from: 'https://a.example', to: 'https://b.example' }, secret: { from: REDACTED, to: REDACTED } });
    expect(auditor.record({ action_type: 'refund', user }).changes).toBeNull();
    expect(() => auditor.record({ action_type: 'refund', user, changes: { url: 'x' } as never })).toThrow(/changes must be/);
    await auditor.flush();
    const stored = await auditor.store.get('acc_acme', record.id);
    expect(stored?.changes).toEqual(record.changes);
    await auditor.close();
  });
});
