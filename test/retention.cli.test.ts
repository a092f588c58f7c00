import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type CliIo } from '@audit-trail/cli';
import { sqliteStore } from '@audit-trail/sqlite';
import { beforeAll, describe, expect, it } from 'vitest';
import { hoursAfterStart, oldRecords, tempDir } from './support/retention-scenarios.ts';

// The retention commands end to end on a SQLite file: hold, prune (and its
// refusals), verify after the prune, and evidence bundles checked with no store.

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const MAIN = path.join(ROOT, 'packages/cli/src/main.ts');
const dir = tempDir('audit-trail-retention-cli-');
const HMAC = 'retention-cli-bundle-hmac-key-01';
const ENV = { BUNDLE_KEY: HMAC };

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = ENV): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const stream = (append: (text: string) => void) => ({ write: (text: string) => (append(text), true), once: () => undefined });
  const io: CliIo = { stdout: stream((t) => (stdout += t)), stderr: stream((t) => (stderr += t)), env };
  const code = await run(args, io);
  return { code, stdout, stderr };
}

function spawned(args: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, [MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const file = path.join(dir, 'audit.db');
const store = `sqlite:${file}`;
const privateKey = path.join(dir, 'bundle-private.pem');
const publicKey = path.join(dir, 'bundle-public.pem');
const otherPublicKey = path.join(dir, 'other-public.pem');
const archive = path.join(dir, 'prune.ndjson');
const before = hoursAfterStart(300);

beforeAll(async () => {
  const pair = generateKeyPairSync('ed25519');
  fs.writeFileSync(privateKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  fs.writeFileSync(publicKey, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  fs.writeFileSync(otherPublicKey, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
  const app = sqliteStore({ database: file });
  await app.append([...oldRecords('acc_acme', 500), ...oldRecords('acc_globex', 500), ...oldRecords('acc_held', 100)]);
  await app.close();
});

// One story in steps on one file (hold, refused prunes, the prune, its bundle, release), so its
// cases keep their order under --sequence.shuffle; the other files are shuffled as usual.
describe('audit-trail hold, prune and verify on SQLite', { shuffle: false }, () => {
  it('refuses a prune without --archive, below the minimum age, or of an account under hold: exit 2, nothing pruned', async () => {
    const base = ['prune', '--store', store, '--private-key', privateKey];
    const noArchive = await cli([...base, '--before', before]);
    expect(noArchive).toMatchObject({ code: 2, stderr: expect.stringMatching(/--archive <file> is required/) });

    const young = path.join(dir, 'young.ndjson');
    const tooYoung = await cli([...base, '--before', new Date(Date.now() - 30 * 86_400_000).toISOString(), '--archive', young]);
    expect(tooYoung).toMatchObject({ code: 2, stderr: expect.stringMatching(/refused: .*younger than the minimum age of 365 day/) });
    expect(fs.existsSync(young)).toBe(false);
    const longer = await cli([...base, '--before', before, '--min-age-days', '5000', '--archive', young]);
    expect(longer).toMatchObject({ code: 2, stderr: expect.stringMatching(/minimum age of 5000 day/) });

    expect(await cli(['hold', '--store', store, '--account', 'acc_held', '--reason', 'case 42'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/is under legal hold/) });
    const held = await cli([...base, '--before', before, '--account', 'acc_held', '--archive', young]);
    expect(held).toMatchObject({ code: 2, stderr: expect.stringMatching(/refused: account acc_held is under legal hold/) });
    expect(fs.existsSync(young)).toBe(false);

    const intact = await cli(['verify', '--store', store, '--format', 'json']);
    expect(JSON.parse(intact.stdout)).toMatchObject({ ok: true, verified: 1100 });
  });

  it('prunes every account not under hold into a bundle; verify passes after; the bundle verifies with no store', async () => {
    const pruned = await cli(['prune', '--store', store, '--before', before, '--archive', archive, '--private-key', privateKey, '--batch-size', '64']);
    expect(pruned).toMatchObject({ code: 0, stdout: expect.stringMatching(/pruned 600 record\(s\)/) });
    expect(pruned.stdout).toMatch(/left alone, under legal hold: acc_held/);
    const again = await cli(['prune', '--store', store, '--before', before, '--archive', archive, '--private-key', privateKey]);
    expect(again).toMatchObject({ code: 2, stderr: expect.stringMatching(/exists \(a bundle is never overwritten\)/) });

    const verified = await cli(['verify', '--store', store, '--format', 'json']);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout).accounts).toMatchObject([
      { account: 'acc_acme', first_seq: 301, seq: 500, pruned_through: 300 },
      { account: 'acc_globex', first_seq: 301, seq: 500, pruned_through: 300 },
      { account: 'acc_held', first_seq: 1, seq: 100, pruned_through: 0 },
    ]);
    const text = await cli(['verify', '--store', store]);
    expect(text.stdout).toMatch(/acc_acme: #301–#500, 200 record\(s\), head [0-9a-f]{16}…, continues from the prune anchor at #300/);

    // The assessor's machine: no database at all.
    const copy = path.join(dir, 'copy.db');
    fs.copyFileSync(file, copy);
    fs.rmSync(file);
    for (const suffix of ['-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
    const offline = await spawned(['verify', '--bundle', archive, '--public-key', publicKey]);
    expect(offline).toMatchObject({ code: 0, stdout: expect.stringMatching(/^intact: bundle of 600 record\(s\) in 2 chain\(s\), signed ed25519/) });
    expect(offline.stdout).toMatch(/acc_acme: #1–#300, 300 record\(s\)/);
    fs.renameSync(copy, file);

    expect(await cli(['verify', '--bundle', archive, '--public-key', otherPublicKey])).toMatchObject({ code: 1, stdout: expect.stringMatching(/bundle rejected: bad_signature/) });
    expect(await cli(['verify', '--bundle', archive])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--public-key/) });
    expect(await cli(['verify', '--bundle', path.join(dir, 'missing.ndjson'), '--public-key', publicKey])).toMatchObject({ code: 2 });
  });

  it('rejects the bundle with any one byte changed, a line removed, or cut short', async () => {
    const original = fs.readFileSync(archive);
    const tampered = path.join(dir, 'tampered.ndjson');
    const positions = [0, 5, 40, original.indexOf('\n') + 1, original.indexOf('"user"'), original.lastIndexOf('"signature"') + 20, original.length - 2, original.length - 1];
    for (let i = 1; i <= 40; i++) positions.push(Math.floor((original.length * i) / 41));
    for (const at of positions) {
      const copy = Buffer.from(original);
      copy[at] = copy[at] === 0x30 ? 0x31 : copy[at] === 0x0a ? 0x20 : 0x30;
      fs.writeFileSync(tampered, copy);
      const result = await cli(['verify', '--bundle', tampered, '--public-key', publicKey, '--format', 'json']);
      expect({ at, code: result.code, ok: JSON.parse(result.stdout).ok }).toEqual({ at, code: 1, ok: false });
    }
    const lines = original.toString('utf8').split('\n');
    fs.writeFileSync(tampered, [...lines.slice(0, 10), ...lines.slice(11)].join('\n'));
    expect((await cli(['verify', '--bundle', tampered, '--public-key', publicKey])).code).toBe(1);
    fs.writeFileSync(tampered, lines.slice(0, -2).join('\n'));
    expect(await cli(['verify', '--bundle', tampered, '--public-key', publicKey])).toMatchObject({ code: 1, stdout: expect.stringMatching(/no checkpoint line/) });
    fs.writeFileSync(tampered, original);
    expect((await cli(['verify', '--bundle', tampered, '--public-key', publicKey])).code).toBe(0);
  });

  it('export --bundle writes a bundle of any filter, signed with an HMAC key', async () => {
    const out = path.join(dir, 'export.ndjson');
    const made = await cli(['export', '--store', store, '--account', 'acc_held', '--from', hoursAfterStart(10), '--to', hoursAfterStart(30), '--bundle', out, '--signing-key-env', 'BUNDLE_KEY']);
    expect(made).toMatchObject({ code: 0, stderr: expect.stringMatching(/bundle of 20 record\(s\)/) });
    expect(await cli(['verify', '--bundle', out, '--signing-key-env', 'BUNDLE_KEY'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/bundle of 20 record\(s\)/) });
    expect((await cli(['verify', '--bundle', out, '--public-key', publicKey])).code).toBe(1);
    const whole = path.join(dir, 'export-all.ndjson');
    expect((await cli(['export', '--store', store, '--account', 'acc_acme', '--bundle', whole, '--private-key', privateKey])).code).toBe(0);
    expect(await cli(['verify', '--bundle', whole, '--public-key', publicKey])).toMatchObject({ code: 0, stdout: expect.stringMatching(/acc_acme: #301–#500, 200 record/) });
  });

  it('a keyed chain pruned without its key: exit 1, nothing pruned, no partial archive left', async () => {
    const keyedFile = path.join(dir, 'keyed.db');
    const keyed = sqliteStore({ database: keyedFile, chain: { key: 'retention-cli-chain-key-0123456!' } });
    await keyed.append(oldRecords('acc_k', 50));
    await keyed.close();
    const out = path.join(dir, 'keyed.ndjson');
    const args = ['prune', '--store', `sqlite:${keyedFile}`, '--before', before, '--archive', out, '--signing-key-env', 'BUNDLE_KEY'];
    const refused = await cli(args);
    expect(refused).toMatchObject({ code: 1, stdout: expect.stringMatching(/does not check at #1 .*nothing was pruned \(if the store was given chain.key/) });
    expect(fs.existsSync(out)).toBe(false);
    const pruned = await cli([...args, '--key-env', 'CHAIN_KEY'], { ...ENV, CHAIN_KEY: 'retention-cli-chain-key-0123456!' });
    expect(pruned).toMatchObject({ code: 0, stdout: expect.stringMatching(/pruned 50 record/) });
    expect((await cli(['verify', '--bundle', out, '--signing-key-env', 'BUNDLE_KEY'])).stdout).toMatch(/record hashes not recomputed/);
    expect(
      (await cli(['verify', '--bundle', out, '--signing-key-env', 'BUNDLE_KEY', '--key-env', 'CHAIN_KEY'], { ...ENV, CHAIN_KEY: 'retention-cli-chain-key-0123456!' })).code,
    ).toBe(0);
  });

  it('hold --release lets the account be pruned; exit codes from the real command', async () => {
    expect(await cli(['hold', '--store', store, '--account', 'acc_held', '--release'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/released/) });
    expect(await cli(['hold', '--store', store, '--account', 'acc_held', '--release'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/was not under legal hold/) });
    const second = path.join(dir, 'held.ndjson');
    const pruned = await spawned(['prune', '--store', store, '--account', 'acc_held', '--before', before, '--archive', second, '--signing-key-env', 'BUNDLE_KEY']);
    expect(pruned).toMatchObject({ code: 0, stdout: expect.stringMatching(/pruned 100 record\(s\)/) });
    expect((await spawned(['verify', '--store', store])).code).toBe(0);
    expect((await spawned(['prune', '--store', store, '--before', before, '--signing-key-env', 'BUNDLE_KEY'])).code).toBe(2);
  });
});
