import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { postgresStore } from '@audit-trail/postgres';
import { sqliteStore } from '@audit-trail/sqlite';
import { sampleRecord } from '@audit-trail/store-conformance';
import type { AuditRecord } from '@audit-trail/core';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { run, type CliIo } from './cli.ts';

// The real CLI, as users run it: `tsx packages/cli/src/main.ts …` (what `pnpm audit-trail` runs).
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const MAIN = path.join(ROOT, 'packages/cli/src/main.ts');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-trail-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SIGNING_KEY = 'cli-test-checkpoint-signing-key!';
const CHAIN_KEY = 'cli-test-chain-key-0123456789abc';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, [MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the CLI in this process, for the many cheap checks of flags. */
async function inProcess(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const stream = (append: (text: string) => void) => ({ write: (text: string) => (append(text), true), once: () => undefined });
  const io: CliIo = { stdout: stream((t) => (stdout += t)), stderr: stream((t) => (stderr += t)), env };
  const code = await run(args, io);
  return { code, stdout, stderr };
}

const ACME = 'acc_acme';
const GLOBEX = 'acc_globex';

/** 2,000 records over two accounts, with hostile text in a few fields. */
function fixtureRecords(): AuditRecord[] {
  return Array.from({ length: 2000 }, (_, i) =>
    sampleRecord({
      account_id: i % 2 ? ACME : GLOBEX,
      created: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      action_type: i % 3 === 0 ? 'void' : 'refund',
      resource_id: i === 5 ? '=HYPERLINK("http://evil.example","click")' : i === 9 ? '+cmd|calc' : `pay_${i}`,
      request: { user_agent: i === 7 ? 'evil\u001b[2J\u001b]0;owned\u0007\u202eagent' : 'curl/8.5' },
      details: { i, note: i === 11 ? 'two\nlines, "quoted"' : 'ok' },
    }),
  );
}

async function fill(store: { append(r: readonly AuditRecord[]): Promise<void>; close(): Promise<void> }, records: AuditRecord[]) {
  for (let i = 0; i < records.length; i += 250) await store.append(records.slice(i, i + 250));
  await store.close();
}

/** A tiny RFC 4180 reader, enough to read the export back. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\r' && text[i + 1] === '\n') row.push(cell), rows.push(row), (row = []), (cell = ''), i++;
    else cell += c;
  }
  return rows;
}

describe('audit-trail CLI on a SQLite file', () => {
  const file = path.join(dir, 'audit.db');
  const store = `sqlite:${file}`;
  const records = fixtureRecords();
  const acme = records.filter((r) => r.account_id === ACME);
  const db = () => new Database(file);

  beforeAll(async () => {
    await fill(sqliteStore({ database: file }), records);
  });

  it('verify: exit 0 for an intact store', async () => {
    const { code, stdout } = await cli(['verify', '--store', store]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^intact: 2,000 record\(s\) in 2 chain\(s\) verified/);
    expect(stdout).toContain('acc_acme: #1–#1000, 1,000 record(s)');
  });

  it('query: JSON lines that parse back to the records, filtered like the endpoint', async () => {
    const { code, stdout } = await cli(['query', '--store', store, '--account', ACME, '--action-type', 'void', '--limit', '20', '--format', 'json']);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    const expected = acme.filter((r) => r.action_type === 'void').reverse().slice(0, 20);
    expect(lines.map((line) => JSON.parse(line) as AuditRecord)).toEqual(expected);
    // The hostile user agent is escaped in the text, restored by JSON.parse.
    expect(stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
  });

  it('query: a table on request, with terminal escapes made visible', async () => {
    const { code, stdout } = await inProcess(['query', '--store', store, '--account', ACME, '--format', 'table', '--order', 'asc', '--limit', '5']);
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toMatch(/^created\s+id\s+action_type/);
    expect(stdout).toContain('=HYPERLINK');
    expect(stdout).not.toContain('\u001b');
  });

  it('export: NDJSON and CSV, streamed page by page, parse back; CSV defuses formulas', async () => {
    const csvFile = path.join(dir, 'acme.csv');
    const [ndjson, csv] = await Promise.all([
      cli(['export', '--store', store, '--account', ACME]),
      cli(['export', '--store', store, '--account', ACME, '--format', 'csv', '--out', csvFile]),
    ]);
    expect(ndjson.code).toBe(0);
    expect(ndjson.stdout.trim().split('\n').map((line) => JSON.parse(line) as AuditRecord)).toEqual(acme);
    expect(csv.code).toBe(0);
    expect(csv.stderr).toContain('exported 1,000 record(s)');
    const rows = parseCsv(fs.readFileSync(csvFile, 'utf8'));
    expect(rows).toHaveLength(1001);
    const [header, ...body] = rows;
    const column = (name: string) => header!.indexOf(name);
    expect(body.map((row) => row[column('id')])).toEqual(acme.map((r) => r.id));
    const byIndex = (i: number) => body.find((row) => JSON.parse(row[column('details')]!).i === i)!;
    expect(byIndex(5)[column('resource_id')]).toBe(`'=HYPERLINK("http://evil.example","click")`);
    expect(byIndex(9)[column('resource_id')]).toBe(`'+cmd|calc`);
    expect(JSON.parse(byIndex(11)[column('details')]!)).toEqual({ i: 11, note: 'two\nlines, "quoted"' });
    expect(byIndex(7)[column('request_user_agent')]).toBe('evil\u001b[2J\u001b]0;owned\u0007\u202eagent');
  });

  it('verify: exit 1 naming the record after a direct SQL UPDATE, and after a DELETE', async () => {
    const handle = db();
    const target = handle.prepare("SELECT id, chain_seq FROM audit_records WHERE account_id = ? AND chain_seq = 600").get(ACME) as { id: string };
    const backup = handle.prepare('SELECT details FROM audit_records WHERE id = ?').get(target.id) as { details: string };
    handle.prepare("UPDATE audit_records SET details = json_set(details, '$.note', 'edited') WHERE id = ?").run(target.id);
    const updated = await cli(['verify', '--store', store]);
    expect(updated.code).toBe(1);
    expect(updated.stdout).toContain('chain broken: modified');
    expect(updated.stdout).toContain(`account: ${ACME}`);
    expect(updated.stdout).toContain('seq:     600');
    expect(updated.stdout).toContain(`record:  ${target.id}`);
    handle.prepare('UPDATE audit_records SET details = ? WHERE id = ?').run(backup.details, target.id);

    const victim = handle.prepare('SELECT * FROM audit_records WHERE account_id = ? AND chain_seq = 300').get(GLOBEX) as Record<string, unknown>;
    const next = handle.prepare('SELECT id FROM audit_records WHERE account_id = ? AND chain_seq = 301').get(GLOBEX) as { id: string };
    handle.prepare('DELETE FROM audit_records WHERE id = ?').run(victim.id);
    const deleted = await cli(['verify', '--store', store, '--format', 'json']);
    expect(deleted.code).toBe(1);
    expect(JSON.parse(deleted.stdout)).toMatchObject({ ok: false, account: GLOBEX, seq: 300, record_id: next.id, kind: 'deleted' });
    const columns = Object.keys(victim);
    handle.prepare(`INSERT INTO audit_records (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`).run(...Object.values(victim));
    handle.close();
    expect((await inProcess(['verify', '--store', store, '--account', GLOBEX])).code).toBe(0);
  });

  it('checkpoint, then truncation: unseen without the checkpoint once the head row is moved back, named with it', async () => {
    // Truncates a copy: the other cases of this file read the whole store, in any order (--sequence.shuffle).
    const copy = path.join(dir, 'truncated.db');
    const source = db();
    await source.backup(copy);
    source.close();
    const store = `sqlite:${copy}`;
    const checkpointFile = path.join(dir, 'checkpoint.json');
    const env = { AUDIT_SIGNING_KEY: SIGNING_KEY };
    const made = await cli(['checkpoint', '--store', store, '--signing-key-env', 'AUDIT_SIGNING_KEY', '--out', checkpointFile], env);
    expect(made.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(checkpointFile, 'utf8'))).toMatchObject({ format: 'audit-trail-checkpoint/v1', heads: [{ account: ACME, seq: 1000 }, { account: GLOBEX, seq: 1000 }] });

    const handle = new Database(copy);
    handle.prepare('DELETE FROM audit_records WHERE account_id = ? AND chain_seq > 995').run(ACME);
    const head = handle.prepare('SELECT hash FROM audit_records WHERE account_id = ? AND chain_seq = 995').get(ACME) as { hash: string };
    handle.prepare('UPDATE audit_chain_heads SET seq = 995, hash = ? WHERE account_id = ?').run(head.hash, ACME);
    handle.close();

    const [without, withCheckpoint, forged] = await Promise.all([
      cli(['verify', '--store', store]),
      cli(['verify', '--store', store, '--checkpoint', checkpointFile, '--signing-key-env', 'AUDIT_SIGNING_KEY'], env),
      inProcess(['verify', '--store', store, '--checkpoint', checkpointFile, '--signing-key-env', 'OTHER_KEY'], { OTHER_KEY: 'not-the-signing-key-of-this-test' }),
    ]);
    expect(without.code).toBe(0);
    expect(withCheckpoint.code).toBe(1);
    expect(withCheckpoint.stdout).toContain('chain broken: truncated');
    expect(withCheckpoint.stdout).toContain('seq:     996');
    expect(forged.code).toBe(2);
    expect(forged.stderr).toContain('--checkpoint: the checkpoint signature does not verify');
  });
});

describe('audit-trail CLI on PostgreSQL', () => {
  const databaseUrl = inject('databaseUrl');
  const schema = `test_cli_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const records = fixtureRecords();
  const flags = ['--store', databaseUrl, '--schema', schema];
  const env = { AUDIT_CHAIN_KEY: CHAIN_KEY };

  beforeAll(async () => {
    await fill(postgresStore({ connectionString: databaseUrl, schema, chain: { key: CHAIN_KEY } }), records);
  });
  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  it('verify: exit 0 when intact (with the key), 1 at the first record without it', async () => {
    const [keyed, keyless] = await Promise.all([cli(['verify', ...flags, '--key-env', 'AUDIT_CHAIN_KEY'], env), cli(['verify', ...flags])]);
    expect(keyed.code).toBe(0);
    expect(keyed.stdout).toMatch(/^intact: 2,000 record\(s\) in 2 chain\(s\)/);
    expect(keyless.code).toBe(1);
    expect(keyless.stdout).toContain('seq:     1\n');
    expect(keyless.stdout).toContain('verify with that key');
  });

  it('verify: exit 1 naming the record after a direct SQL UPDATE, then after a DELETE', async () => {
    const target = (await admin.query(`SELECT id FROM ${schema}.audit_records WHERE account_id = $1 AND chain_seq = 1000`, [GLOBEX])).rows[0] as { id: string };
    await admin.query(`UPDATE ${schema}.audit_records SET created = created + interval '1 millisecond' WHERE id = $1`, [target.id]);
    const updated = await cli(['verify', ...flags, '--key-env', 'AUDIT_CHAIN_KEY', '--format', 'json'], env);
    expect(updated.code).toBe(1);
    expect(JSON.parse(updated.stdout)).toMatchObject({ ok: false, account: GLOBEX, seq: 1000, record_id: target.id, kind: 'modified' });
    // Each tampering is undone, so the other cases see an intact store in any order (--sequence.shuffle).
    await admin.query(`UPDATE ${schema}.audit_records SET created = created - interval '1 millisecond' WHERE id = $1`, [target.id]);

    const first = (await admin.query(`SELECT id FROM ${schema}.audit_records WHERE account_id = $1 AND chain_seq IN (1, 2) ORDER BY chain_seq`, [ACME])).rows as Array<{ id: string }>;
    const victim = (await admin.query(`DELETE FROM ${schema}.audit_records WHERE id = $1 RETURNING *`, [first[0]!.id])).rows[0] as Record<string, unknown>;
    const deleted = await cli(['verify', ...flags, '--key-env', 'AUDIT_CHAIN_KEY', '--account', ACME], env);
    expect(deleted.code).toBe(1);
    expect(deleted.stdout).toContain('chain broken: deleted');
    expect(deleted.stdout).toContain('seq:     1\n');
    expect(deleted.stdout).toContain(`record:  ${first[1]!.id}`);
    const columns = Object.keys(victim);
    await admin.query(
      `INSERT INTO ${schema}.audit_records (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
      Object.values(victim),
    );
    expect((await cli(['verify', ...flags, '--key-env', 'AUDIT_CHAIN_KEY'], env)).code).toBe(0);
  });

  it('query and export read the same records as the store', async () => {
    const [query, exported] = await Promise.all([
      cli(['query', ...flags, '--account', GLOBEX, '--user-id', 'usr_alice', '--from', '2026-01-01T00:10:00Z', '--limit', '7', '--format', 'json']),
      cli(['export', ...flags, '--account', GLOBEX, '--order', 'desc']),
    ]);
    expect(query.code).toBe(0);
    const globex = records.filter((r) => r.account_id === GLOBEX);
    const expected = globex.filter((r) => r.created >= '2026-01-01T00:10:00.000Z').reverse().slice(0, 7);
    expect(query.stdout.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).id)).toEqual(expected.map((r) => r.id));
    expect(exported.code).toBe(0);
    expect(exported.stdout.trim().split('\n')).toHaveLength(1000);
  });
});

describe('audit-trail CLI flags', () => {
  const file = path.join(dir, 'flags.db');
  beforeAll(async () => {
    await fill(sqliteStore({ database: file }), [sampleRecord({ account_id: ACME })]);
  });

  it.each([
    [['verify'], /--store is required/],
    [['verify', '--store', 'mysql://user:secret@host/db'], /--store: unknown store "mysql:…": use sqlite:<file> or postgres:\/\//],
    [['verify', '--store', 'memory:'], /--store: memory: holds nothing/],
    [['verify', '--store', 'sqlite:/no/such/file.db'], /--store: no SQLite database at \/no\/such\/file.db/],
    [['verify', '--stor', 'x'], /Unknown option '--stor'/],
    [['verify', '--store', `sqlite:${file}`, '--key-env', 'UNSET_VARIABLE'], /--key-env: the environment variable UNSET_VARIABLE is not set/],
    [['verify', '--store', `sqlite:${file}`, '--key-env', 'SHORT'], /--key-env: SHORT must hold a key of at least 16 bytes/],
    [['verify', '--store', `sqlite:${file}`, '--format', 'yaml'], /--format must be text or json/],
    [['verify', '--store', `sqlite:${file}`, '--page-size', '1'], /--page-size must be/],
    [['verify', '--store', `sqlite:${file}`, '--checkpoint', 'x.json'], /--checkpoint needs --signing-key-env/],
    [['verify', '--store', `sqlite:${file}`, '--accept-unchained-before', 'last year'], /--accept-unchained-before must be an ISO 8601 instant/],
    [['verify', '--store', `sqlite:${file}`, '--schema', 'audit'], /--schema and --table apply to PostgreSQL only/],
    [['verify', '--store', 'postgres://localhost/db', '--schema', 'Bad-Name'], /--schema: schema must be a lowercase SQL identifier/],
    [['query', '--store', `sqlite:${file}`], /--account is required/],
    [['query', '--store', `sqlite:${file}`, '--account', ACME, '--action-type', 'refund,teleport'], /--action-type: unknown action_type "teleport"/],
    [['query', '--store', `sqlite:${file}`, '--account', ACME, '--from', '2026-01-01'], /--from: from must be an ISO 8601 instant with a zone/],
    [['query', '--store', `sqlite:${file}`, '--account', ACME, '--limit', '0'], /--limit: limit must be a whole number from 1 to 500/],
    [['query', '--store', `sqlite:${file}`, '--account', ACME, '--outcome', 'maybe'], /--outcome: /],
    [['query', '--store', `sqlite:${file}`, '--account', ACME, '--order', 'sideways'], /--order: order must be "desc" or "asc"/],
    [['query', '--store', `sqlite:${file}`, '--account', ACME, '--format', 'xml'], /--format must be table or json/],
    [['query', '--store', `sqlite:${file}`, '--account', ACME, '--catalog', '/no/catalog.json'], /--catalog: cannot read \/no\/catalog.json/],
    [['export', '--store', `sqlite:${file}`, '--account', ACME, '--format', 'xlsx'], /--format must be ndjson or csv/],
    [['export', '--store', `sqlite:${file}`, '--account', ACME, '--limit', '5'], /Unknown option '--limit'/],
    [['checkpoint', '--store', `sqlite:${file}`], /--signing-key-env \(or --key-env\) is required/],
  ])('%j: exit 2, naming the flag', async (args, message) => {
    const { code, stderr } = await inProcess(args, { SHORT: 'too-short' });
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('an unknown command or none: exit 2 with the usage; --help: exit 0', async () => {
    expect(await inProcess(['frobnicate'])).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown command "frobnicate"') });
    expect(await inProcess([])).toMatchObject({ code: 2, stdout: expect.stringContaining('Usage: audit-trail <command>') });
    for (const command of ['verify', 'query', 'export', 'checkpoint']) {
      expect(await inProcess([command, '--help'])).toMatchObject({ code: 0, stdout: expect.stringContaining(`Usage: audit-trail ${command}`) });
    }
  });

  it('a store that cannot be reached: exit 3', async () => {
    const { code, stderr } = await inProcess(['verify', '--store', 'postgres://nobody:x@127.0.0.1:1/none']);
    expect(code).toBe(3);
    expect(stderr).toMatch(/the store failed/);
  });

  it('reads a catalog of the app’s own action types', async () => {
    const catalog = path.join(dir, 'catalog.json');
    fs.writeFileSync(catalog, JSON.stringify({ approve_invoice: 'invoice' }));
    expect((await inProcess(['query', '--store', `sqlite:${file}`, '--account', ACME, '--catalog', catalog, '--action-type', 'approve_invoice'])).code).toBe(0);
    expect((await inProcess(['query', '--store', `sqlite:${file}`, '--account', ACME, '--catalog', catalog, '--action-type', 'refund'])).code).toBe(2);
  });

  it('the bin runs the same CLI', async () => {
    // The bin runs the built dist/ (the suite's global setup builds it); here its sibling packages
    // resolve to their workspace sources, hence tsx. Installed, it runs on plain node: test/packaging.
    const result = await new Promise<Ran>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href, path.join(ROOT, 'packages/cli/bin/audit-trail.mjs'), 'verify', '--store', `sqlite:${file}`], { cwd: dir });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr: '' }));
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^intact: 1 record\(s\)/);
  });
});
