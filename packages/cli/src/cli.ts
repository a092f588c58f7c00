import { once } from 'node:events';
import fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  ApiError,
  bundleWriter,
  CheckpointError,
  createCheckpoint,
  DEFAULT_MIN_AGE_DAYS,
  defineCatalog,
  paymentsOsCatalog,
  prune,
  RetentionError,
  setLegalHold,
  verify,
  type AuditRecord,
  type BundleSigningKey,
  type BundleSink,
  type BundleVerifyResult,
  type Catalog,
  type Store,
  type VerifyBreak,
  type VerifyResult,
} from '@audit-trail/core';
import { filterOfQuery, matchesFilter, MAX_LIMIT, parseAuditQuery, type KeysetPosition } from '@audit-trail/core/store';
import { bundleFileSink, bundleIsKeyed, ed25519Key, publicKeyOf, verifyBundleFile } from './bundle-file.ts';
import { nodeChainHasher } from '@audit-trail/sqlite';
import { CSV_HEADER, csvLine, jsonLine, printable, recordTable } from './render.ts';
import { openStore, parseStoreSpec } from './store-spec.ts';
import { EXIT, HELP, UsageError } from './usage.ts';

/** A stream the CLI writes to; `isTTY` decides tables, progress bars and escaping. */
export interface OutputStream {
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Where the CLI reads and writes; the process's own by default. */
export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Record<string, string | undefined>;
}

const STORE_OPTIONS = {
  store: { type: 'string' },
  schema: { type: 'string' },
  table: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const FILTER_OPTIONS = {
  account: { type: 'string' },
  'action-type': { type: 'string', multiple: true },
  resource: { type: 'string' },
  'resource-id': { type: 'string' },
  'user-id': { type: 'string' },
  'user-email': { type: 'string' },
  'app-id': { type: 'string' },
  outcome: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  order: { type: 'string' },
  catalog: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const CHAIN_OPTIONS = {
  account: { type: 'string' },
  'key-env': { type: 'string' },
  'signing-key-env': { type: 'string' },
  'accept-unchained-before': { type: 'string' },
  'accept-pruned-start': { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

const COMMANDS = {
  verify: {
    ...STORE_OPTIONS,
    ...CHAIN_OPTIONS,
    checkpoint: { type: 'string' },
    format: { type: 'string' },
    'page-size': { type: 'string' },
    bundle: { type: 'string' },
    'public-key': { type: 'string' },
  },
  query: { ...STORE_OPTIONS, ...FILTER_OPTIONS, limit: { type: 'string' }, format: { type: 'string' } },
  export: {
    ...STORE_OPTIONS,
    ...FILTER_OPTIONS,
    format: { type: 'string' },
    out: { type: 'string' },
    bundle: { type: 'string' },
    'key-env': { type: 'string' },
    'signing-key-env': { type: 'string' },
    'private-key': { type: 'string' },
  },
  checkpoint: { ...STORE_OPTIONS, ...CHAIN_OPTIONS, out: { type: 'string' } },
  prune: {
    ...STORE_OPTIONS,
    account: { type: 'string' },
    before: { type: 'string' },
    archive: { type: 'string' },
    'min-age-days': { type: 'string' },
    'key-env': { type: 'string' },
    'signing-key-env': { type: 'string' },
    'private-key': { type: 'string' },
    'batch-size': { type: 'string' },
  },
  hold: { ...STORE_OPTIONS, account: { type: 'string' }, release: { type: 'boolean' }, reason: { type: 'string' } },
} as const satisfies Record<string, ParseArgsConfig['options']>;

type Command = keyof typeof COMMANDS;
type Flags = Record<string, string | boolean | string[] | undefined>;

/** Flags of the query filters, by the endpoint parameter each one is. */
const PARAMETER_FLAGS = {
  action_type: 'action-type',
  resource: 'resource',
  resource_id: 'resource-id',
  user_id: 'user-id',
  user_email: 'user-email',
  app_id: 'app-id',
  outcome: 'outcome',
  from: 'from',
  to: 'to',
  limit: 'limit',
  order: 'order',
} as const;

/**
 * Runs the CLI with `argv` (without `node` and the script) and resolves to
 * the exit code: 0 done (for `verify`: intact), 1 chain broken, 2 usage
 * error, 3 store failure.
 *
 * @example
 * process.exitCode = await run(process.argv.slice(2));
 */
export async function run(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    await write(io.stdout, `${HELP.main}\n`);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    await write(io.stderr, `audit-trail: unknown command "${printable(command)}"\n\n${HELP.main}\n`);
    return EXIT.usage;
  }
  const name = command as Command;
  let flags: Flags;
  try {
    flags = parseArgs({ args: [...rest], options: COMMANDS[name], strict: true, allowPositionals: false }).values as Flags;
  } catch (error) {
    await write(io.stderr, `audit-trail ${name}: ${printable((error as Error).message)}\nRun audit-trail ${name} --help for its flags.\n`);
    return EXIT.usage;
  }
  if (flags.help) {
    await write(io.stdout, `${HELP[name]}\n`);
    return EXIT.ok;
  }

  let store: Store | undefined;
  try {
    if (name === 'verify' && flags.bundle !== undefined) return await verifyBundleCommand(flags, io);
    const spec = parseStoreSpec(flags.store as string | undefined);
    const prepared = await prepare(name, flags, io);
    store = openStore(spec, {
      ...(flags.schema !== undefined ? { schema: flags.schema as string } : {}),
      ...(flags.table !== undefined ? { table: flags.table as string } : {}),
      ...(name === 'prune' || name === 'hold' ? { writable: true } : {}),
    });
    return await prepared(store);
  } catch (error) {
    if (error instanceof RetentionError && error.code === 'chain_broken') {
      await write(io.stdout, `audit-trail ${name}: ${printable(error.message)}\n`);
      return EXIT.broken;
    }
    if (error instanceof RetentionError) {
      await write(io.stderr, `audit-trail ${name}: refused: ${printable(error.message.replace(/^prune: /, ''))}\n`);
      return EXIT.usage;
    }
    if (error instanceof UsageError) {
      await write(io.stderr, `audit-trail ${name}: ${printable(error.message)}\n`);
      return EXIT.usage;
    }
    await write(io.stderr, `audit-trail ${name}: the store failed: ${printable(error instanceof Error ? error.message : String(error))}\n`);
    return EXIT.failed;
  } finally {
    await store?.close().catch(() => undefined);
  }
}

/** Checks a command's flags before any store is opened; returns what runs with the store. */
async function prepare(command: Command, flags: Flags, io: CliIo): Promise<(store: Store) => Promise<number>> {
  switch (command) {
    case 'verify':
      return prepareVerify(flags, io);
    case 'checkpoint':
      return prepareCheckpoint(flags, io);
    case 'query':
      return prepareQuery(flags, io);
    case 'export':
      return flags.bundle !== undefined ? prepareExportBundle(flags, io) : prepareExport(flags, io);
    case 'prune':
      return preparePrune(flags, io);
    case 'hold':
      return prepareHold(flags, io);
  }
}

function processIo(): CliIo {
  // A reader that stops early (`| head`) closes the pipe: that is not an error worth a stack trace.
  const quietOnEpipe = (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  };
  process.stdout.on('error', quietOnEpipe);
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** Writes, waiting for the stream to drain when its buffer is full. */
async function write(stream: OutputStream, chunk: string): Promise<void> {
  if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}

// ----- keys, options ---------------------------------------------------------

/** The key in the environment variable a `--…-env` flag names. */
function keyFromEnv(flags: Flags, flag: 'key-env' | 'signing-key-env', io: CliIo): string | undefined {
  const variable = flags[flag] as string | undefined;
  if (variable === undefined) return undefined;
  const value = io.env[variable];
  if (value === undefined || value === '') throw new UsageError(`--${flag}: the environment variable ${variable} is not set`);
  if (new TextEncoder().encode(value).length < 16) throw new UsageError(`--${flag}: ${variable} must hold a key of at least 16 bytes`);
  return value;
}

function instantFlag(flags: Flags, flag: string): string | undefined {
  const value = flags[flag] as string | undefined;
  if (value === undefined) return undefined;
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(value) || Number.isNaN(Date.parse(value))) {
    throw new UsageError(`--${flag} must be an ISO 8601 instant with a zone, e.g. 2026-01-01T00:00:00Z`);
  }
  return new Date(value).toISOString();
}

function chainOptions(flags: Flags) {
  const acceptUnchainedBefore = instantFlag(flags, 'accept-unchained-before');
  return {
    ...(flags.account !== undefined ? { account: flags.account as string } : {}),
    ...(acceptUnchainedBefore !== undefined ? { acceptUnchainedBefore } : {}),
    ...(flags['accept-pruned-start'] ? { acceptPrunedStart: true } : {}),
  };
}

/** Redraws one status line on stderr, at most ten times a second, when stderr is a terminal. */
function progressLine(io: CliIo) {
  let last = 0;
  let shown = false;
  return {
    update(text: string, force = false) {
      if (!io.stderr.isTTY) return;
      const now = Date.now();
      if (!force && now - last < 100) return;
      last = now;
      shown = true;
      const width = Math.max(20, (io.stderr.columns ?? 80) - 1);
      io.stderr.write(`\r\u001b[2K${text.slice(0, width)}`);
    },
    clear() {
      if (shown) io.stderr.write('\r\u001b[2K');
      shown = false;
    },
  };
}

const count = (n: number) => n.toLocaleString('en-US');

// ----- verify and checkpoint ---------------------------------------------------

function describeBreak(found: VerifyBreak): string {
  return [
    `chain broken: ${found.kind}`,
    `  account: ${found.account === null ? '(records without an account)' : printable(found.account)}`,
    `  seq:     ${found.seq ?? '(none: the record has no chain position)'}`,
    `  record:  ${found.record_id === null ? '(none left)' : printable(found.record_id)}`,
    `  detail:  ${printable(found.message)}`,
    `${count(found.verified)} record(s) verified before the break.`,
  ].join('\n');
}

async function prepareVerify(flags: Flags, io: CliIo): Promise<(store: Store) => Promise<number>> {
  const key = keyFromEnv(flags, 'key-env', io);
  const signingKey = keyFromEnv(flags, 'signing-key-env', io) ?? key;
  const format = (flags.format as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError('--format must be text or json');
  const pageSize = flags['page-size'] === undefined ? undefined : Number(flags['page-size']);
  if (pageSize !== undefined && !(Number.isInteger(pageSize) && pageSize >= 2 && pageSize <= 100_000)) {
    throw new UsageError('--page-size must be a whole number from 2 to 100000');
  }
  let checkpoint: unknown;
  const file = flags.checkpoint as string | undefined;
  if (file !== undefined) {
    if (signingKey === undefined) throw new UsageError('--checkpoint needs --signing-key-env (or --key-env): the key that signed the checkpoint');
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`--checkpoint: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    try {
      checkpoint = JSON.parse(text);
    } catch {
      throw new UsageError(`--checkpoint: ${file} is not JSON`);
    }
  }
  const options = chainOptions(flags);

  return async (store) => {
    const progress = progressLine(io);
    let result: VerifyResult;
    try {
      result = await verify(store, {
        hasher: nodeChainHasher(key),
        ...options,
        ...(checkpoint !== undefined ? { checkpoint: checkpoint as never, checkpointKey: signingKey! } : {}),
        ...(pageSize !== undefined ? { pageSize } : {}),
        onProgress: ({ account, verified, total }) =>
          progress.update(
            `verifying ${account === null ? '(no account)' : printable(account)}: ${count(verified)}${total ? ` / ${count(total)}` : ''} records`,
          ),
      });
    } catch (error) {
      if (error instanceof CheckpointError) throw new UsageError(`--checkpoint: ${error.message}`);
      if (error instanceof TypeError && /keeps no hash chain/.test(error.message)) throw new UsageError(`--store: ${error.message}`);
      throw error;
    } finally {
      progress.clear();
    }
    if (format === 'json') {
      await write(io.stdout, `${jsonLine(result)}\n`);
    } else if (result.ok) {
      const lines = [`intact: ${count(result.verified)} record(s) in ${count(result.accounts.length)} chain(s) verified${checkpoint ? ', checkpoint heads all present' : ''}`];
      for (const chain of result.accounts.slice(0, 50)) {
        const name = chain.account === null ? '(no account)' : printable(chain.account);
        const pruned = chain.pruned_through > 0 ? `, continues from the prune anchor at #${chain.pruned_through}` : '';
        lines.push(`  ${name}: #${chain.first_seq}–#${chain.seq}, ${count(chain.count)} record(s), head ${chain.hash.slice(0, 16)}…${pruned}`);
      }
      if (result.accounts.length > 50) lines.push(`  … and ${count(result.accounts.length - 50)} more chain(s)`);
      await write(io.stdout, `${lines.join('\n')}\n`);
    } else {
      await write(io.stdout, `${describeBreak(result)}\n`);
    }
    return result.ok ? EXIT.ok : EXIT.broken;
  };
}

async function prepareCheckpoint(flags: Flags, io: CliIo): Promise<(store: Store) => Promise<number>> {
  const key = keyFromEnv(flags, 'key-env', io);
  const signingKey = keyFromEnv(flags, 'signing-key-env', io) ?? key;
  if (signingKey === undefined) throw new UsageError('--signing-key-env (or --key-env) is required: a checkpoint is signed, and checked later with the same key');
  const out = flags.out as string | undefined;
  const options = chainOptions(flags);
  return async (store) => {
    const progress = progressLine(io);
    try {
      const checkpoint = await createCheckpoint(store, {
        key: signingKey,
        hasher: nodeChainHasher(key),
        ...options,
        onProgress: ({ account, verified }) => progress.update(`verifying ${account === null ? '(no account)' : printable(account)}: ${count(verified)} records`),
      });
      progress.clear();
      const text = `${JSON.stringify(checkpoint, null, 2)}\n`;
      if (out === undefined) await write(io.stdout, text);
      else {
        fs.writeFileSync(out, text, { mode: 0o644 });
        const records = checkpoint.heads.reduce((sum, head) => sum + head.count, 0);
        await write(io.stderr, `checkpoint of ${count(checkpoint.heads.length)} chain(s), ${count(records)} record(s), written to ${printable(out)}\n`);
      }
      return EXIT.ok;
    } catch (error) {
      progress.clear();
      if (error instanceof CheckpointError && error.code === 'chain_broken' && error.break) {
        await write(io.stdout, `no checkpoint written: the chain is broken\n${describeBreak(error.break)}\n`);
        return EXIT.broken;
      }
      if (error instanceof TypeError && /keeps no hash chain/.test(error.message)) throw new UsageError(`--store: ${error.message}`);
      throw error;
    }
  };
}

// ----- query and export ----------------------------------------------------------

function catalogOf(flags: Flags): Catalog {
  const file = flags.catalog as string | undefined;
  if (file === undefined) return paymentsOsCatalog;
  let entries: unknown;
  try {
    entries = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--catalog: cannot read ${file} as JSON: ${(error as Error).message}`);
  }
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
    throw new UsageError('--catalog: the file must hold a JSON object of action types and their resources');
  }
  try {
    return defineCatalog(entries as Record<string, string>);
  } catch (error) {
    throw new UsageError(`--catalog: ${(error as Error).message.replace(/^defineCatalog: /, '')}`);
  }
}

/** The filters, validated by the endpoint's own schema: the same rules, the same messages, naming the flag. */
function parseFilters(flags: Flags, defaults: Record<string, string> = {}) {
  const account = flags.account as string | undefined;
  if (account === undefined || account === '') throw new UsageError('--account is required: records are read one account at a time');
  const params = new URLSearchParams(defaults);
  for (const [parameter, flag] of Object.entries(PARAMETER_FLAGS)) {
    const value = flags[flag];
    if (value === undefined) continue;
    params.delete(parameter);
    for (const one of Array.isArray(value) ? value : [String(value)]) params.append(parameter, one);
  }
  try {
    const query = parseAuditQuery(params, catalogOf(flags));
    return { account, query, filter: filterOfQuery(query) };
  } catch (error) {
    if (error instanceof ApiError) {
      const flag = (PARAMETER_FLAGS as Record<string, string>)[error.moreInfo] ?? error.moreInfo.replaceAll('_', '-');
      throw new UsageError(`--${flag}: ${error.description}`);
    }
    throw error;
  }
}

async function prepareQuery(flags: Flags, io: CliIo): Promise<(store: Store) => Promise<number>> {
  const { account, query, filter } = parseFilters(flags);
  const format = (flags.format as string | undefined) ?? (io.stdout.isTTY ? 'table' : 'json');
  if (format !== 'table' && format !== 'json') throw new UsageError('--format must be table or json');
  return async (store) => {
    const page = await store.query({ accountId: account, filter, order: query.order, limit: query.limit });
    if (format === 'json') {
      for (const record of page) await write(io.stdout, `${jsonLine(record)}\n`);
    } else {
      await write(io.stdout, page.length === 0 ? 'no records\n' : recordTable(page));
      if (page.length === query.limit) await write(io.stderr, `${page.length} records shown; more may match: raise --limit (up to ${MAX_LIMIT}) or use export\n`);
    }
    return EXIT.ok;
  };
}

async function prepareExport(flags: Flags, io: CliIo): Promise<(store: Store) => Promise<number>> {
  const { account, query, filter } = parseFilters(flags, { order: 'asc' });
  const format = (flags.format as string | undefined) ?? 'ndjson';
  if (format !== 'ndjson' && format !== 'csv') throw new UsageError('--format must be ndjson or csv');
  const out = flags.out as string | undefined;
  // Written to a terminal, CSV cells could carry escape sequences: show them as text there.
  const line =
    format === 'ndjson'
      ? (record: AuditRecord) => `${jsonLine(record)}\n`
      : out === undefined && io.stdout.isTTY
        ? (record: AuditRecord) => printable(csvLine(record).slice(0, -2)) + '\r\n'
        : csvLine;

  return async (store) => {
    const unfiltered = Object.keys(filter).length === 0;
    // The account's chain length is its record count, when nothing filters them: a bar instead of a counter.
    const total = unfiltered && store.chainHeads ? ((await store.chainHeads(account))[0]?.seq ?? 0) : 0;
    const target = out === undefined ? io.stdout : fileStream(out);
    const progress = progressLine(io);
    let written = 0;
    try {
      if (format === 'csv') await write(target, CSV_HEADER);
      let after: KeysetPosition | null = null;
      for (;;) {
        const page = await store.query({ accountId: account, filter, order: query.order, limit: MAX_LIMIT, after });
        for (const record of page) await write(target, line(record));
        written += page.length;
        progress.update(total > 0 ? bar(written, total) : `exported ${count(written)} records`);
        if (page.length < MAX_LIMIT) break;
        const last = page[page.length - 1]!;
        after = { created: last.created, id: last.id };
      }
    } finally {
      progress.clear();
      if (target !== io.stdout) await closeFile(target as fs.WriteStream);
    }
    if (out !== undefined) await write(io.stderr, `exported ${count(written)} record(s) to ${printable(out)}\n`);
    return EXIT.ok;
  };
}

function bar(done: number, total: number): string {
  const share = Math.min(1, done / total);
  const filled = Math.round(share * 30);
  return `[${'#'.repeat(filled)}${'-'.repeat(30 - filled)}] ${Math.floor(share * 100)}% ${count(done)}/${count(total)} records`;
}

function fileStream(path: string): fs.WriteStream & OutputStream {
  try {
    fs.writeFileSync(path, '', { flag: 'w' });
  } catch (error) {
    throw new UsageError(`--out: cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return fs.createWriteStream(path, { flags: 'w' });
}

async function closeFile(stream: fs.WriteStream): Promise<void> {
  stream.end();
  await once(stream, 'finish');
}

// ----- retention and evidence bundles -------------------------------------------

/** The key a bundle is signed with: `--private-key` (Ed25519, PEM) or `--signing-key-env` (HMAC). */
async function bundleSigningKey(flags: Flags, io: CliIo): Promise<BundleSigningKey> {
  const file = flags['private-key'] as string | undefined;
  const hmac = keyFromEnv(flags, 'signing-key-env', io);
  if (file !== undefined && hmac !== undefined) throw new UsageError('give --private-key or --signing-key-env, not both');
  if (file !== undefined) return ed25519Key(file, 'sign', '--private-key');
  if (hmac !== undefined) return hmac;
  throw new UsageError('a bundle is signed: give --private-key <ed25519.pem> or --signing-key-env <VAR> (an HMAC key)');
}

/** Checks the file just written before anything relies on it, with the key that signed it. */
async function checkWrittenBundle(path: string, signingKey: BundleSigningKey, chainKey: string | undefined): Promise<void> {
  const key = typeof signingKey === 'string' || signingKey instanceof Uint8Array ? signingKey : await publicKeyOf(signingKey);
  const result = await verifyBundleFile(path, key, chainKey, chainKey === undefined ? false : undefined);
  if (!result.ok) throw new Error(`the bundle written to ${path} does not verify (line ${result.line}: ${result.message}); nothing was deleted`);
}

function describeBundle(path: string, result: BundleVerifyResult): string {
  if (!result.ok) return `bundle rejected: ${result.code}\n  file:    ${printable(path)}\n  line:    ${result.line === 0 ? '(the file as a whole)' : result.line}\n  detail:  ${printable(result.message)}`;
  const { header, checkpoint } = result;
  const lines = [
    `intact: bundle of ${count(result.records)} record(s) in ${count(checkpoint.chains.length)} chain(s), signed ${checkpoint.algorithm} at ${checkpoint.created}` +
      (result.hashes_checked ? '' : ' (links and signature checked; record hashes not recomputed: give --key-env with the chain key)'),
    `  kind: ${header.kind}, written ${header.created}, scope ${printable(JSON.stringify(header.scope))}`,
  ];
  for (const chain of checkpoint.chains.slice(0, 50)) {
    const name = chain.account === null ? '(no account)' : printable(chain.account);
    lines.push(`  ${name}: #${chain.first_seq}–#${chain.seq}, ${count(chain.count)} record(s), last hash ${chain.hash.slice(0, 16)}…`);
  }
  if (checkpoint.chains.length > 50) lines.push(`  … and ${count(checkpoint.chains.length - 50)} more chain(s)`);
  return lines.join('\n');
}

async function verifyBundleCommand(flags: Flags, io: CliIo): Promise<number> {
  const path = flags.bundle as string;
  if (flags.store !== undefined || flags.checkpoint !== undefined) throw new UsageError('--bundle is checked on its own: give no --store or --checkpoint');
  const format = (flags.format as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError('--format must be text or json');
  const chainKey = keyFromEnv(flags, 'key-env', io);
  const publicKeyFile = flags['public-key'] as string | undefined;
  const hmac = keyFromEnv(flags, 'signing-key-env', io);
  if (publicKeyFile !== undefined && hmac !== undefined) throw new UsageError('give --public-key or --signing-key-env, not both');
  const key = publicKeyFile !== undefined ? await ed25519Key(publicKeyFile, 'verify', '--public-key') : hmac;
  if (key === undefined) throw new UsageError('a bundle is checked against its signature: give --public-key <ed25519-public.pem> or --signing-key-env <VAR>');
  if (!fs.existsSync(path)) throw new UsageError(`--bundle: no file at ${path}`);
  const keyed = chainKey === undefined ? bundleIsKeyed(path) : undefined;
  const result = await verifyBundleFile(path, key, chainKey, keyed);
  await write(io.stdout, `${format === 'json' ? jsonLine(result) : describeBundle(path, result)}\n`);
  return result.ok ? EXIT.ok : EXIT.broken;
}

async function prepareExportBundle(flags: Flags, io: CliIo): Promise<(store: Store) => Promise<number>> {
  if (flags.out !== undefined || flags.format !== undefined) throw new UsageError('--bundle writes the bundle file itself: give no --out or --format');
  if (flags.order !== undefined) throw new UsageError('--order: a bundle holds records in chain order');
  const { account, filter } = parseFilters(flags);
  const chainKey = keyFromEnv(flags, 'key-env', io);
  const signingKey = await bundleSigningKey(flags, io);
  const path = flags.bundle as string;
  return async (store) => {
    if (typeof store.scanChain !== 'function') throw new UsageError('--store: the store keeps no hash chain: a bundle needs its links');
    const contiguous = Object.keys(filter).length === 0;
    const sink = bundleFileSink(path, '--bundle');
    const scope: Record<string, unknown> = { account };
    for (const [parameter, flag] of Object.entries(PARAMETER_FLAGS)) if (flags[flag] !== undefined) scope[parameter] = flags[flag];
    const writer = await bundleWriter(sink, { kind: 'export', keyed: chainKey !== undefined, contiguous, scope, signingKey, digester: nodeChainHasher() });
    const progress = progressLine(io);
    let written = 0;
    let after: number | null = null;
    try {
      for (;;) {
        const page = await store.scanChain(account, after, 1000);
        for (const link of page) {
          if (!matchesFilter(link.record, filter)) continue;
          await writer.add(link);
          written++;
        }
        progress.update(`exported ${count(written)} records`);
        if (page.length < 1000) break;
        after = page[page.length - 1]!.seq;
      }
      await writer.finish();
    } finally {
      progress.clear();
    }
    await checkWrittenBundle(path, signingKey, chainKey);
    await write(io.stderr, `bundle of ${count(written)} record(s) written to ${printable(path)}\n`);
    return EXIT.ok;
  };
}

function wholeFlag(flags: Flags, flag: string, min: number, max: number): number | undefined {
  const value = flags[flag] as string | undefined;
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${flag} must be a whole number from ${min} to ${max}`);
  return n;
}

async function preparePrune(flags: Flags, io: CliIo): Promise<(store: Store) => Promise<number>> {
  const before = instantFlag(flags, 'before');
  if (before === undefined) throw new UsageError('--before <instant> is required: records created before it are pruned');
  const archive = flags.archive as string | undefined;
  if (archive === undefined || archive === '') {
    throw new UsageError('--archive <file> is required: the records are written into an evidence bundle before they are deleted (refused: nothing was pruned)');
  }
  const minAgeDays = wholeFlag(flags, 'min-age-days', 0, 100_000) ?? DEFAULT_MIN_AGE_DAYS;
  const batchSize = wholeFlag(flags, 'batch-size', 1, 100_000);
  const chainKey = keyFromEnv(flags, 'key-env', io);
  const signingKey = await bundleSigningKey(flags, io);
  const account = flags.account as string | undefined;
  if (account === '') throw new UsageError('--account must not be empty');
  if (fs.existsSync(archive)) throw new UsageError(`--archive: ${archive} exists (a bundle is never overwritten)`);
  return async (store) => {
    const progress = progressLine(io);
    let sink: BundleSink | undefined;
    let complete = false;
    // Opened only once prune has accepted the request, so that a refusal leaves no file behind.
    const lazy: BundleSink = {
      write: (chunk) => (sink ??= bundleFileSink(archive, '--archive')).write(chunk),
      close: async () => {
        await (sink ??= bundleFileSink(archive, '--archive')).close?.();
        await checkWrittenBundle(archive, signingKey, chainKey);
        complete = true;
      },
    };
    try {
      const result = await prune(store, {
        before,
        ...(account !== undefined ? { account } : {}),
        archive: lazy,
        signingKey,
        minAgeDays,
        hasher: nodeChainHasher(chainKey),
        digester: nodeChainHasher(),
        ...(batchSize !== undefined ? { batchSize } : {}),
        onProgress: ({ phase, account: at, done }) =>
          progress.update(`${phase === 'archive' ? 'archiving' : 'deleting'} ${at === null ? '(no account)' : printable(at)}: ${count(done)} records`),
      });
      progress.clear();
      const lines = [`pruned ${count(result.deleted)} record(s) created before ${before}; archive ${printable(archive)} (${count(result.checkpoint.records)} record(s), signed ${result.checkpoint.algorithm})`];
      for (const anchor of result.anchors) {
        lines.push(`  ${anchor.account === null ? '(no account)' : printable(anchor.account)}: #${anchor.first_seq}–#${anchor.seq} removed; the chain continues from the anchor at #${anchor.seq}`);
      }
      if (result.held.length > 0) lines.push(`  left alone, under legal hold: ${result.held.map(printable).join(', ')}`);
      await write(io.stdout, `${lines.join('\n')}\n`);
      return EXIT.ok;
    } catch (error) {
      // Failed before the archive was whole: nothing was deleted, and a partial bundle is no evidence.
      if (sink && !complete) {
        const open = sink;
        await Promise.resolve()
          .then(() => open.close?.())
          .catch(() => undefined);
        fs.rmSync(archive, { force: true });
      }
      throw error;
    } finally {
      progress.clear();
    }
  };
}

async function prepareHold(flags: Flags, io: CliIo): Promise<(store: Store) => Promise<number>> {
  const account = flags.account as string | undefined;
  if (account === undefined || account === '') throw new UsageError('--account <id> is required');
  if (flags.release && flags.reason !== undefined) throw new UsageError('--reason applies to a new hold, not to --release');
  return async (store) => {
    const changed = await setLegalHold(store, account, { ...(flags.release ? { release: true } : {}), ...(flags.reason !== undefined ? { reason: flags.reason as string } : {}) });
    const what = flags.release
      ? changed
        ? `released the legal hold on account ${printable(account)}`
        : `account ${printable(account)} was not under legal hold`
      : changed
        ? `account ${printable(account)} is under legal hold: prune leaves it alone until --release`
        : `account ${printable(account)} was already under legal hold`;
    await write(io.stdout, `${what}\n`);
    return EXIT.ok;
  };
}
