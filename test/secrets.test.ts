import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import fc from 'fast-check';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { memoryStore, type AuditRecord, type Store } from '@audit-trail/core';
import { createRedactor } from '../packages/core/src/redact.ts';
import { postgresStore } from '@audit-trail/postgres';
import { sqliteStore } from '@audit-trail/sqlite';
import { exampleApps, type ExampleServer } from './support/apps.ts';
import { CARDS, INNOCENT, SECRET_KEYS, SECRETS, type SecretCase } from './secrets/corpus.ts';

/** Any Unicode decimal digit as ASCII, for the digit forms the corpus writes. */
const asciiDigits = (text: string) =>
  text.normalize('NFKC').replace(/[\u0660-\u0669]/g, (d) => String(d.codePointAt(0)! - 0x660));
/** Separators a card number may be written with, and their escapes. */
const stripSeparators = (text: string) => text.replace(/%20|\\u200b|[\s\u00a0\u200b.\-_+,/]/g, '');

/** A store of one kind, and a way to read everything it holds without going through the API. */
interface OpenedStore {
  store: Store;
  /** Everything the store holds, as text. */
  contents(): Promise<string>;
  /** The stored records' request bodies (details.request_body), for the innocent values. */
  close(): Promise<void>;
}

const stores: { name: string; open(): Promise<OpenedStore> }[] = [
  {
    name: 'memory',
    async open() {
      // The memory store keeps the records it is given: what append receives is its content.
      const inner = memoryStore();
      const held: AuditRecord[] = [];
      const store: Store = { ...inner, append: async (records) => (held.push(...structuredClone(records)), inner.append(records)) };
      return { store, contents: async () => JSON.stringify(held), close: async () => {} };
    },
  },
  {
    name: 'sqlite',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'audit-trail-secrets-'));
      const file = join(dir, 'audit.db');
      const store = sqliteStore({ database: file });
      return {
        store,
        async contents() {
          const db = new Database(file, { readonly: true });
          try {
            const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
            return JSON.stringify(tables.map(({ name }) => db.prepare(`SELECT * FROM "${name}"`).all()));
          } finally {
            db.close();
          }
        },
        close: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    async open() {
      const schema = `secrets_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
      const connectionString = inject('databaseUrl');
      const store = postgresStore({ connectionString, schema });
      await store.migrate();
      return {
        store,
        async contents() {
          const client = new pg.Client({ connectionString });
          await client.connect();
          try {
            const { rows: tables } = await client.query<{ table_name: string }>(
              'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
              [schema],
            );
            const dumps: unknown[] = [];
            for (const { table_name } of tables) {
              dumps.push((await client.query(`SELECT row_to_json(t) AS row FROM "${schema}"."${table_name}" t`)).rows);
            }
            return JSON.stringify(dumps);
          } finally {
            await client.end();
          }
        },
        async close() {
          const client = new pg.Client({ connectionString });
          await client.connect();
          await client.query(`DROP SCHEMA "${schema}" CASCADE`).finally(() => client.end());
        },
      };
    },
  },
];

const AUTH = { authorization: 'Bearer demo-alice' };

/** Runs `tasks` a few at a time. */
async function pooled<T>(items: readonly T[], run: (item: T) => Promise<void>, width = 8): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await run(items[next++]!);
  }));
}

/** Sends one secret through every input channel of an example. */
async function sendEverywhere(server: ExampleServer, secret: SecretCase): Promise<void> {
  const headers: Record<string, string> = { ...AUTH, 'content-type': 'application/json' };
  if (secret.header) Object.assign(headers, { 'user-agent': secret.text, 'app-id': secret.text, 'x-request-id': secret.text });
  const body: Record<string, unknown> = { name: 'n', note: secret.text, [secret.text]: 'as a key', nested: [{ deep: secret.text }] };
  if (secret.card) {
    body.parts = secret.card.match(/.{1,4}/g);
    body.reference = Number(secret.card);
  }
  const encoded = encodeURIComponent(secret.text);
  const responses = await Promise.all([
    fetch(`${server.url}/customers`, { method: 'POST', headers, body: JSON.stringify(body) }),
    fetch(`${server.url}/customers/${encoded}?note=${encoded}`, { headers }),
    fetch(`${server.url}/audit?limit=1&note=${encoded}`, { headers }),
  ]);
  for (const res of responses) await res.arrayBuffer();
}

function leaks(contents: string, secrets: readonly SecretCase[]): string[] {
  const digits = stripSeparators(asciiDigits(contents));
  const found: string[] = [];
  for (const secret of secrets) {
    if (secret.card && digits.includes(secret.card)) found.push(secret.name);
    for (const needle of secret.needles) if (contents.includes(needle)) found.push(secret.name);
  }
  return found;
}

describe('no secret of the corpus reaches a store', () => {
  it('has a few hundred cases', () => {
    expect(SECRETS.length).toBeGreaterThan(150);
  });

  for (const app of exampleApps) {
    for (const kind of stores) {
      describe(`${app.name} on ${kind.name}`, () => {
        let opened: OpenedStore;
        let server: ExampleServer;
        afterAll(async () => {
          await server?.close();
          await opened?.close();
        });

        it('stores every secret redacted and every innocent value unchanged', async () => {
          opened = await kind.open();
          server = await app.start({ store: opened.store });
          await pooled(SECRETS, (secret) => sendEverywhere(server, secret));
          const secretKeys = Object.fromEntries(SECRET_KEYS.map((key, i) => [key, `kept${i}value9x`]));
          await fetch(`${server.url}/customers`, {
            method: 'POST',
            headers: { ...AUTH, 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'n', ...secretKeys }),
          }).then((res) => res.arrayBuffer());
          await pooled(INNOCENT, async (value) => {
            const headers = { ...AUTH, 'content-type': 'application/json', 'x-request-id': value, 'user-agent': value };
            await fetch(`${server.url}/customers`, { method: 'POST', headers, body: JSON.stringify({ name: 'n', innocent: value }) }).then((r) => r.arrayBuffer());
          });
          await server.auditor.flush();
          expect(server.errors).toEqual([]);

          const contents = await opened.contents();
          // The requests were recorded: the store is not empty of what was sent around the secrets.
          expect(contents).toContain('as a key');
          expect(leaks(contents, SECRETS)).toEqual([]);
          for (const value of Object.values(secretKeys)) expect(contents).not.toContain(value);
          for (const value of INNOCENT) expect(contents, value).toContain(JSON.stringify(value).slice(1, -1));
        });
      });
    }
  }
});

describe('generated card numbers and tokens in random positions', () => {
  const redactor = createRedactor();
  const luhn = (body: string) => {
    let sum = 0;
    for (let i = 0; i < body.length; i++) {
      let d = Number(body[body.length - 1 - i]);
      if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
      sum += d;
    }
    return body + String((10 - (sum % 10)) % 10);
  };
  /** A Luhn-valid number of a brand's length, with the brand's first four digits. */
  const card = fc
    .constantFrom(...Object.values(CARDS))
    .chain((known) => fc.stringMatching(new RegExp(`^\\d{${known.length - 5}}$`)).map((rest) => luhn(known.slice(0, 4) + rest)));
  const separator = fc.constantFrom('', ' ', '-', '.', '  ', '\u00a0', '\u2009');
  const token = fc.oneof(
    fc.stringMatching(/^[A-Z0-9]{16}$/).map((s) => `AKIA${s}`),
    fc.stringMatching(/^[A-Za-z0-9]{36}$/).map((s) => `ghp_${s}`),
    fc.stringMatching(/^[A-Za-z0-9]{24}$/).map((s) => `sk_live_${s}`),
    fc.stringMatching(/^[A-Za-z0-9_-]{35}$/).map((s) => `AIza${s}`),
  );
  const words = fc.array(fc.constantFrom('paid', 'with', 'x', 'ref', '42', '2026-12-02', ':', '(', ')', '"'), { maxLength: 4 }).map((w) => w.join(' '));

  it('redacts a card number written with any separator anywhere in text, keys, numbers and arrays', () => {
    fc.assert(
      fc.property(card, separator, words, words, (digits, sep, before, after) => {
        const written = (digits.match(/.{1,4}/g) ?? []).join(sep);
        const text = `${before} ${written} ${after}`;
        const out = JSON.stringify(redactor.details({ note: text, [text]: 1, n: Number(digits), parts: digits.match(/.{1,4}/g) }));
        expect(stripSeparators(out)).not.toContain(digits);
      }),
      { numRuns: 500 },
    );
  });

  it('redacts a token anywhere in text', () => {
    fc.assert(
      fc.property(token, words, words, (secret, before, after) => {
        expect(redactor.text(`${before} ${secret} ${after}`)).not.toContain(secret);
      }),
      { numRuns: 500 },
    );
  });
});
