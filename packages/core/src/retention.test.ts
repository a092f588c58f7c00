import { describe, expect, it } from 'vitest';
import { bundleWriter, verifyBundle, type BundleSink } from './bundle.ts';
import { webCryptoHasher } from './chain.ts';
import { memoryStore } from './memory-store.ts';
import type { AuditRecord } from './record.ts';
import { prune, RetentionError, setLegalHold } from './retention.ts';
import { verify } from './verify.ts';

const DAY = 86_400_000;
const NOW = new Date('2026-12-01T00:00:00.000Z');
const SIGNING_KEY = 'retention-unit-test-signing-key!';
const CHAIN_KEY = 'retention-unit-test-chain-key-01';

function record(account: string | null, i: number): AuditRecord {
  return {
    id: `aud_${account ?? 'none'}_${String(i).padStart(5, '0')}`,
    created: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString(),
    action_type: 'refund',
    resource: 'payment',
    resource_id: `pay_${i}`,
    user: { id: 'usr_alice', email: 'alice@example.com' },
    account_id: account,
    app_id: null,
    outcome: 'success',
    status_code: 201,
    request: { method: 'POST', path: '/p', route: '/p', ip: null, user_agent: null, request_id: null },
    trace: null,
    details: { i },
    changes: null,
  };
}

function sink(): BundleSink & { text: () => string } {
  let text = '';
  return { write: (chunk) => void (text += chunk), text: () => text };
}

const before = new Date(Date.UTC(2024, 0, 1) + 100 * 3_600_000).toISOString();

describe('prune on the memory store', () => {
  it('prunes the oldest records of every account, the records without one included, and verify continues from the anchors', async () => {
    const store = memoryStore({ chain: { key: CHAIN_KEY } });
    await store.append([...Array.from({ length: 150 }, (_, i) => record('acc_a', i)), ...Array.from({ length: 120 }, (_, i) => record(null, i))]);
    const archive = sink();
    const result = await prune(store, { before, archive, signingKey: SIGNING_KEY, chainKey: CHAIN_KEY, now: () => NOW, batchSize: 33 });
    expect(result.anchors.map((a) => [a.account, a.seq])).toEqual([
      [null, 100],
      ['acc_a', 100],
    ]);
    expect(result.deleted).toBe(200);
    expect(await store.query({ accountId: 'acc_a', filter: {}, order: 'asc', limit: 500 })).toHaveLength(50);
    expect(await verify(store, { key: CHAIN_KEY })).toMatchObject({ ok: true, verified: 70 });
    expect(await verify(store)).toMatchObject({ ok: false, kind: 'deleted' });

    const lines = archive.text().split('\n');
    expect(await verifyBundle(lines, { key: SIGNING_KEY, chainKey: CHAIN_KEY })).toMatchObject({ ok: true, records: 200, hashes_checked: true });
    // Without the chain key: links, digest and signature, but not the hashes.
    expect(await verifyBundle(lines, { key: SIGNING_KEY })).toMatchObject({ ok: true, hashes_checked: false });
    expect(await verifyBundle(lines, { key: 'another-signing-key-of-32-bytes!' })).toMatchObject({ ok: false, code: 'bad_signature' });

    // A record changed in the bundle: with the chain key, its line is named.
    const changed = [...lines];
    changed[5] = changed[5]!.replace('"i":4', '"i":44');
    expect(await verifyBundle(changed, { key: SIGNING_KEY, chainKey: CHAIN_KEY })).toMatchObject({ ok: false, line: 6, code: 'broken' });
    expect(await verifyBundle(changed, { key: SIGNING_KEY })).toMatchObject({ ok: false, code: 'broken' });
  });

  it('enforces the minimum age against the clock, and legal holds', async () => {
    const store = memoryStore();
    await store.append(Array.from({ length: 10 }, (_, i) => record('acc_a', i)));
    const soon = () => new Date(Date.parse(before) + 364 * DAY);
    await expect(prune(store, { before, archive: sink(), signingKey: SIGNING_KEY, now: soon })).rejects.toMatchObject({ code: 'below_minimum_age' });
    await expect(prune(store, { before, archive: sink(), signingKey: SIGNING_KEY, now: soon, minAgeDays: 364 })).resolves.toMatchObject({ deleted: 10 });

    const held = memoryStore();
    await held.append([record('acc_h', 1)]);
    await setLegalHold(held, 'acc_h', { reason: 'litigation' });
    const refused = prune(held, { before, archive: sink(), signingKey: SIGNING_KEY, account: 'acc_h', now: () => NOW });
    await expect(refused).rejects.toBeInstanceOf(RetentionError);
    await expect(refused).rejects.toMatchObject({ code: 'legal_hold' });
    await expect(prune(memoryStore({ chain: false }), { before, archive: sink(), signingKey: SIGNING_KEY, now: () => NOW })).rejects.toMatchObject({ code: 'not_supported' });
  });
});

describe('a legal hold placed while a prune writes its archive', () => {
  it('wins: that account keeps its records and gets no anchor, the others are pruned', async () => {
    const store = memoryStore();
    await store.append([...Array.from({ length: 150 }, (_, i) => record('acc_a', i)), ...Array.from({ length: 150 }, (_, i) => record('acc_b', i))]);
    let placed = false;
    const result = await prune(store, {
      before,
      archive: sink(),
      signingKey: SIGNING_KEY,
      now: () => NOW,
      onProgress: ({ phase }) => {
        if (phase === 'archive' && !placed) {
          placed = true;
          void setLegalHold(store, 'acc_b', { reason: 'subpoena' });
        }
      },
    });
    expect(result.held).toEqual(['acc_b']);
    expect(result.anchors.map((a) => a.account)).toEqual(['acc_a']);
    expect(result.deleted).toBe(100);
    expect((await store.scanChain!('acc_b', null, 1))[0]!.seq).toBe(1);
    expect(await verify(store)).toMatchObject({ ok: true, verified: 200 });
  });
});

describe('evidence bundles', () => {
  it('signs with Ed25519: the public key checks it, another key does not', async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
    const other = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
    const store = memoryStore();
    await store.append(Array.from({ length: 20 }, (_, i) => record('acc_a', i)));
    const out = sink();
    const writer = await bundleWriter(out, { kind: 'export', keyed: false, contiguous: true, scope: { account: 'acc_a' }, signingKey: pair.privateKey });
    for (const link of await store.scanChain!('acc_a', null, 100)) await writer.add(link);
    const checkpoint = await writer.finish();
    expect(checkpoint).toMatchObject({ algorithm: 'ed25519', records: 20, lines: 21, chains: [{ account: 'acc_a', first_seq: 1, seq: 20, count: 20 }] });
    const lines = out.text().split('\n');
    expect(await verifyBundle(lines, { key: pair.publicKey })).toMatchObject({ ok: true, records: 20, hashes_checked: true });
    expect(await verifyBundle(lines, { key: other.publicKey })).toMatchObject({ ok: false, code: 'bad_signature' });
    expect(await verifyBundle(lines, { key: SIGNING_KEY })).toMatchObject({ ok: false, code: 'bad_signature' });

    // A record left out of a contiguous bundle is a gap, named at the line after it.
    expect(await verifyBundle([...lines.slice(0, 4), ...lines.slice(5)], { key: pair.publicKey })).toMatchObject({ ok: false, line: 5, code: 'broken' });
    // Records swapped.
    expect(await verifyBundle([lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)], { key: pair.publicKey })).toMatchObject({ ok: false, code: 'broken' });
    // Extra text after the checkpoint.
    expect(await verifyBundle([...lines, '{}'], { key: pair.publicKey })).toMatchObject({ ok: false, code: 'malformed' });
    expect(await verifyBundle(['not json'], { key: pair.publicKey })).toMatchObject({ ok: false, line: 1, code: 'malformed' });
  });

  it('a filtered bundle holds records with gaps, each still checked against its hash', async () => {
    const store = memoryStore();
    await store.append(Array.from({ length: 30 }, (_, i) => record('acc_a', i)));
    const out = sink();
    const writer = await bundleWriter(out, { kind: 'export', keyed: false, contiguous: false, scope: { every: 'third' }, signingKey: SIGNING_KEY, digester: webCryptoHasher() });
    for (const link of await store.scanChain!('acc_a', null, 100)) if (link.seq % 3 === 0) await writer.add(link);
    await writer.finish();
    const lines = out.text().split('\n');
    expect(await verifyBundle(lines, { key: SIGNING_KEY })).toMatchObject({ ok: true, records: 10 });
    const changed = [...lines];
    changed[2] = changed[2]!.replace('"resource_id":"pay_5"', '"resource_id":"pay_6"');
    expect(await verifyBundle(changed, { key: SIGNING_KEY })).toMatchObject({ ok: false, line: 3, code: 'broken' });
  });
});
