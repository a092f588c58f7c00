import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '@audit-trail/core';
import { postgresStore } from '@audit-trail/postgres';
import { sqliteStore } from '@audit-trail/sqlite';
import { num, ratio, table } from './support/markdown.ts';
import { benchPostgresLoad } from './postgres-load.ts';
import { rawCopyWriter } from './support/pg-copy.ts';
import { dropSchema } from './support/postgres.ts';
import { writeRecords } from './support/records.ts';
import type { ScenarioResult, TargetResult } from './support/targets.ts';

export interface StoreWriteOptions {
  quick: boolean;
  dir: string;
  databaseUrl: string;
  log: (line: string) => void;
}

export const BATCH_SIZES = [1, 100, 1000] as const;

/** The targets at batch 1000, records/s. */
const TARGETS = { SQLite: 300_000, PostgreSQL: 60_000 } as const;

/** The rows measured: the stores, and two PostgreSQL baselines at batch 1000 for the same rows. */
type Row = keyof typeof TARGETS | 'PostgreSQL, 2 appends in flight' | 'PostgreSQL, chain off (UNNEST)' | 'PostgreSQL raw binary COPY, no chain';

interface Measurement {
  store: Row;
  batch: number;
  records: number;
  seconds: number;
  /** records/s of each round. */
  rates: number[];
}

/**
 * Scenario 2: `store.append` directly, one batch at a time as the auditor
 * writes, with valid records built beforehand (building them is not timed).
 * Each store and batch size has a table of its own, empty at the start; the
 * six are measured in rounds, alternated, and the time is the sum of the
 * `append` calls after a warm-up of a few batches.
 */
export async function benchStoreWrite(options: StoreWriteOptions): Promise<ScenarioResult> {
  const plan = options.quick ? { rounds: 1, seconds: 0.5 } : { rounds: 3, seconds: 2 };
  const contenders: { store: Measurement['store']; batch: number; inFlight?: number; open: () => Promise<Pick<Store, 'append' | 'close'>>; dispose: () => Promise<void> }[] = [];
  for (const batch of BATCH_SIZES) {
    const file = join(options.dir, `write-${batch}.db`);
    contenders.push({
      store: 'SQLite',
      batch,
      open: async () => sqliteStore({ database: file }),
      dispose: async () => {
        for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
      },
    });
  }
  for (const batch of BATCH_SIZES) {
    const schema = `audit_bench_write_${batch}`;
    contenders.push({
      store: 'PostgreSQL',
      batch,
      open: async () => {
        await dropSchema(options.databaseUrl, schema);
        const store = postgresStore({ connectionString: options.databaseUrl, schema, poolSize: 2 });
        await store.migrate();
        return store;
      },
      dispose: () => dropSchema(options.databaseUrl, schema),
    });
  }

  // The store as the auditor drives it with writesInFlight: 2: the next batch handed over while one is written.
  contenders.push({
    store: 'PostgreSQL, 2 appends in flight',
    batch: 1000,
    inFlight: 2,
    open: async () => {
      await dropSchema(options.databaseUrl, 'audit_bench_write_in_flight');
      const store = postgresStore({ connectionString: options.databaseUrl, schema: 'audit_bench_write_in_flight', poolSize: 2 });
      await store.migrate();
      return store;
    },
    dispose: () => dropSchema(options.databaseUrl, 'audit_bench_write_in_flight'),
  });
  // Baselines of the same rows at batch 1000: the store with the chain off (one UNNEST insert per
  // batch), and a raw binary COPY into a table of the same shape and indexes.
  for (const [row, schema] of [
    ['PostgreSQL, chain off (UNNEST)', 'audit_bench_write_unchained'],
    ['PostgreSQL raw binary COPY, no chain', 'audit_bench_write_copy'],
  ] as const) {
    contenders.push({
      store: row,
      batch: 1000,
      open: async () => {
        await dropSchema(options.databaseUrl, schema);
        const store = postgresStore({ connectionString: options.databaseUrl, schema, poolSize: 2, chain: false });
        await store.migrate();
        if (row === 'PostgreSQL, chain off (UNNEST)') return store;
        await store.close();
        return rawCopyWriter(options.databaseUrl, `"${schema}".audit_records`);
      },
      dispose: () => dropSchema(options.databaseUrl, schema),
    });
  }

  const measurements: Measurement[] = contenders.map(({ store, batch }) => ({ store, batch, records: 0, seconds: 0, rates: [] }));
  const opened: (Pick<Store, 'append' | 'close'> | null)[] = contenders.map(() => null);
  const next = contenders.map(() => 0);
  try {
    for (let i = 0; i < contenders.length; i++) {
      const store = (opened[i] = await contenders[i]!.open());
      next[i] = await warmUp(store, contenders[i]!.batch);
    }
    for (let round = 0; round < plan.rounds; round++) {
      options.log(`write: round ${round + 1}/${plan.rounds}`);
      for (let i = 0; i < contenders.length; i++) {
        const { batch } = contenders[i]!;
        const run = await measure(opened[i]!, batch, plan.seconds, next[i]!, contenders[i]!.inFlight ?? 1);
        next[i]! += run.records;
        const m = measurements[i]!;
        m.records += run.records;
        m.seconds += run.seconds;
        m.rates.push(run.records / run.seconds);
      }
    }
  } finally {
    for (let i = 0; i < contenders.length; i++) {
      // Every store is closed and deleted even when one of them fails to.
      await opened[i]?.close().catch(() => undefined);
      await contenders[i]!.dispose().catch(() => undefined);
    }
  }

  const rateOf = (store: Row, batch = 1000) => {
    const m = measurements.find((x) => x.store === store && x.batch === batch)!;
    return m.records / m.seconds;
  };
  const copyRate = rateOf('PostgreSQL raw binary COPY, no chain');
  const targets: TargetResult[] = (['SQLite', 'PostgreSQL'] as const).map((store) => {
    const rate = rateOf(store);
    return {
      target: `${store} store ≥ ${num(TARGETS[store])} records/s at batch 1000`,
      measured:
        `${num(rate)} records/s` +
        (store === 'PostgreSQL'
          ? `; ${num(rateOf('PostgreSQL, 2 appends in flight'))} records/s with 2 appends in flight; ` +
            `${ratio(rate / copyRate)} (${ratio(rateOf('PostgreSQL, 2 appends in flight') / copyRate)} with 2 in flight) of a raw binary COPY of the same rows in the same run (${num(copyRate)} records/s), ` +
            `${ratio(rate / rateOf('PostgreSQL, chain off (UNNEST)'))} of the chain-off UNNEST insert`
          : ''),
      met: rate >= TARGETS[store],
    };
  });
  const loaded = await benchPostgresLoad(options);
  targets.push(...loaded.targets);
  const markdown = [
    '## Store write throughput',
    '',
    `\`store.append\` called directly, one batch at a time (as the auditor writes), with valid records built beforehand ` +
      `(request facts, a trace, small details; 20 accounts, 53 users, 11 action types); each row has a table of its own, empty at the start, ` +
      `and the six rows are measured alternately in ${plan.rounds} round(s) of ${plan.seconds} s of appends, after a warm-up. ` +
      'Stores as configured by default: SQLite a file in WAL mode with synchronous=NORMAL, the hash chain on (SHA-256); ' +
      'PostgreSQL over loopback, one connection in use, the hash chain on: one statement per batch (the append function of migration 4). ' +
      'A row "2 appends in flight" drives the same store as the auditor does with `writesInFlight: 2` (the next batch is linked and encoded while one is written; time is wall time, batches built beforehand). ' +
      'Two PostgreSQL baselines at batch 1000 write the same rows into a table of the same shape and indexes: the store with `chain: false` ' +
      '(one `INSERT … SELECT FROM UNNEST` per batch) and a raw binary `COPY … FROM STDIN` (no chain, no duplicate handling).',
    '',
    table(
      ['store', 'batch', 'records', 'append time s', 'records/s', 'rounds: min – max', 'µs per record'],
      measurements.map((m) => [
        m.store,
        num(m.batch),
        num(m.records),
        m.seconds.toFixed(2),
        num(m.records / m.seconds),
        `${num(Math.min(...m.rates))} – ${num(Math.max(...m.rates))}`,
        ((m.seconds * 1e6) / m.records).toFixed(1),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    loaded.markdown,
  ].join('\n');
  return { markdown, targets };
}

/** A few batches not timed; returns the index of the next record. */
async function warmUp(store: Pick<Store, 'append'>, batch: number): Promise<number> {
  let next = 0;
  for (let i = 0; i < Math.max(3, Math.ceil(200 / batch)); i++) {
    await store.append(writeRecords(batch, next));
    next += batch;
  }
  return next;
}

/** Appends batches for `seconds` of append time (at least three batches). */
async function measure(
  store: Pick<Store, 'append'>,
  batch: number,
  seconds: number,
  first: number,
  inFlight: number,
): Promise<{ records: number; seconds: number }> {
  let records = 0;
  let elapsed = 0;
  while (elapsed < seconds * 1000 || records < 3 * batch) {
    if (inFlight === 1) {
      const pending = writeRecords(batch, first + records);
      const t0 = performance.now();
      await store.append(pending);
      elapsed += performance.now() - t0;
      records += batch;
      continue;
    }
    // Batches built beforehand (not timed); then the wall time of appending them with `inFlight` calls outstanding.
    const batches = Array.from({ length: 8 }, (_, k) => writeRecords(batch, first + records + k * batch));
    const t0 = performance.now();
    const running = new Set<Promise<void>>();
    for (const pending of batches) {
      if (running.size >= inFlight) await Promise.race(running);
      const call: Promise<void> = store.append(pending).finally(() => running.delete(call));
      running.add(call);
    }
    await Promise.all(running);
    elapsed += performance.now() - t0;
    records += batches.length * batch;
  }
  return { records, seconds: elapsed / 1000 };
}
