/**
 * The hash chain's costs: how fast a chain is verified, and what chaining
 * adds to a store's write path. Called by `test/bench/run.ts` (scenario
 * `chain`); runs alone too: `npx tsx test/bench/chain-bench.ts [--quick]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verify, type Store } from '@audit-trail/core';
import { webCryptoHasher, type ChainHasher } from '@audit-trail/core/store';
import { postgresStore } from '@audit-trail/postgres';
import { nodeChainHasher, sqliteStore } from '@audit-trail/sqlite';
import { num, table } from './support/markdown.ts';
import { dropSchema } from './support/postgres.ts';
import { writeRecords } from './support/records.ts';

export interface ChainBenchOptions {
  quick: boolean;
  /** A PostgreSQL to measure too; SQLite only without it. */
  databaseUrl?: string;
}

const BATCH = 1000;
const KEY = 'chain-bench-key-0123456789abcdef';

/** Appends `total` records in batches of 1000 (built beforehand, not timed); records/s. */
async function appendRate(store: Store, total: number): Promise<number> {
  const batches = Array.from({ length: total / BATCH }, (_, b) => writeRecords(BATCH, b * BATCH));
  // A warm-up batch, not counted.
  await store.append(writeRecords(BATCH, total));
  const started = performance.now();
  for (const batch of batches) await store.append(batch);
  return total / ((performance.now() - started) / 1000);
}

/** Verifies every chain of the store; records/s. */
async function verifyRate(store: Store, hasher: ChainHasher): Promise<{ rate: number; records: number }> {
  const started = performance.now();
  const result = await verify(store, { hasher });
  if (!result.ok) throw new Error(`the bench's own chain is broken: ${result.message}`);
  return { rate: result.verified / ((performance.now() - started) / 1000), records: result.verified };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * Returns a Markdown section: verification speed on SQLite (10,000 records
 * quick, 100,000 full) with `node:crypto` and with Web Crypto, and append
 * throughput at batches of 1000 with the chain on (plain and keyed) and off,
 * on SQLite and, given `databaseUrl`, PostgreSQL. Write runs alternate on and
 * off, three rounds in a full run; the median is reported.
 */
export async function benchChain(options: ChainBenchOptions): Promise<string> {
  const records = options.quick ? 10_000 : 100_000;
  const rounds = options.quick ? 1 : 3;
  const dir = mkdtempSync(join(tmpdir(), 'audit-trail-chain-bench-'));
  const log = (line: string) => process.stderr.write(`[chain] ${line}\n`);
  try {
    // Verification: one file of `records` chained records over 20 accounts.
    const file = join(dir, 'verify.db');
    const seeded = sqliteStore({ database: file });
    for (let i = 0; i < records; i += BATCH) await seeded.append(writeRecords(BATCH, i));
    log(`verify: ${num(records)} records on SQLite`);
    const verifyRows: string[][] = [];
    for (const [name, hasher] of [
      ['node:crypto (`nodeChainHasher`, what the CLI uses)', nodeChainHasher()],
      ['Web Crypto (`webCryptoHasher`, core’s default, any runtime)', webCryptoHasher()],
    ] as const) {
      const runs = [];
      for (let r = 0; r < rounds; r++) runs.push(await verifyRate(seeded, hasher));
      verifyRows.push(['SQLite', name, num(runs[0]!.records), num(median(runs.map((run) => run.rate)))]);
    }
    await seeded.close();

    // Write path: the same batches with the chain off, on, and on with a key.
    const writeTotal = options.quick ? 20_000 : 200_000;
    const variants = [
      ['off (`chain: false`)', false],
      ['on, SHA-256 (default)', {}],
      ['on, HMAC-SHA-256 (`chain: { key }`)', { key: KEY }],
    ] as const;
    const sqliteRates = new Map<string, number[]>(variants.map(([name]) => [name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const [name, chain] of variants) {
        log(`write: SQLite, chain ${name}, round ${r + 1}`);
        const path = join(dir, `write-${r}-${sqliteRates.get(name)!.length}-${Math.random().toString(36).slice(2)}.db`);
        const store = sqliteStore({ database: path, chain });
        try {
          sqliteRates.get(name)!.push(await appendRate(store, writeTotal));
        } finally {
          await store.close();
          for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
        }
      }
    }
    const postgresRates = new Map<string, number[]>(variants.map(([name]) => [name, []]));
    let postgresVerify: string[] | undefined;
    if (options.databaseUrl) {
      const total = options.quick ? 10_000 : 100_000;
      for (let r = 0; r < rounds; r++) {
        for (const [name, chain] of variants) {
          log(`write: PostgreSQL, chain ${name}, round ${r + 1}`);
          const schema = `audit_bench_chain_${r}_${variants.findIndex(([n]) => n === name)}`;
          await dropSchema(options.databaseUrl, schema);
          const store = postgresStore({ connectionString: options.databaseUrl, schema, poolSize: 2, chain });
          try {
            await store.migrate();
            postgresRates.get(name)!.push(await appendRate(store, total));
            if (r === 0 && name === variants[1][0]) {
              log('verify: PostgreSQL');
              const run = await verifyRate(store, nodeChainHasher());
              postgresVerify = ['PostgreSQL', 'node:crypto (`nodeChainHasher`, what the CLI uses)', num(run.records), num(run.rate)];
            }
          } finally {
            await store.close();
            await dropSchema(options.databaseUrl, schema);
          }
        }
      }
    }

    const off = (rates: Map<string, number[]>) => median(rates.get(variants[0][0])!);
    const writeRows = (store: string, rates: Map<string, number[]>) =>
      variants.map(([name]) => {
        const rate = median(rates.get(name)!);
        const cost = name === variants[0][0] ? '–' : `${num((1 - rate / off(rates)) * 100)}% slower`;
        return [store, name, num(rate), cost];
      });
    return [
      '## Hash chain',
      '',
      `Verification: \`verify()\` over every chain of a store (${num(records)} records over 20 accounts on SQLite), recomputing each hash; pages of 1000.` +
        (rounds > 1 ? ` Median of ${rounds} runs.` : ''),
      '',
      table(['store', 'hasher', 'records', 'records/s'], [...verifyRows, ...(postgresVerify ? [postgresVerify] : [])], ['l', 'l', 'r', 'r']),
      '',
      `Write path: \`store.append\` of batches of ${BATCH} records (built beforehand, not timed), ${num(writeTotal)} records on SQLite` +
        (options.databaseUrl ? ` and ${num(options.quick ? 10_000 : 100_000)} on PostgreSQL` : '') +
        `, each into a fresh table, the variants alternating${rounds > 1 ? `; median of ${rounds} rounds` : ''}.`,
      '',
      table(
        ['store', 'chain', 'records/s', 'cost of the chain'],
        [...writeRows('SQLite', sqliteRates), ...(options.databaseUrl ? writeRows('PostgreSQL', postgresRates) : [])],
        ['l', 'l', 'r', 'r'],
      ),
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const databaseUrl = process.env.DATABASE_URL;
  process.stdout.write(`${await benchChain({ quick, ...(databaseUrl ? { databaseUrl } : {}) })}\n`);
}
