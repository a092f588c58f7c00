import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The packages as users get them: built (the suite's global setup), packed (`pnpm pack`), installed with
// npm into an app outside the workspace, and used there by plain Node (ESM and require()),
// the user's tsc, Bun, Deno and workerd. One build + pack + install serves every case.

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const APP_SOURCES = fileURLToPath(new URL('./app/', import.meta.url));
const fromRoot = createRequire(join(ROOT, 'package.json'));
const TSC = fromRoot.resolve('typescript/bin/tsc');
const INSTALL_TIMEOUT = 600_000;
const RUNTIME_TIMEOUT = 120_000;

let work: string;
let app: string;
let tarballs: string[];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'audit-trail-installed-'));
  app = join(work, 'app');
  // dist/ is up to date: the suite's global setup built it (test/build-global-setup.ts).
  const packed = await run(process.execPath, [join(ROOT, 'scripts/pack.mjs'), join(work, 'tarballs')], { cwd: ROOT, timeout: INSTALL_TIMEOUT });
  tarballs = packed.stdout.trim().split('\n');
  await cp(APP_SOURCES, app, { recursive: true });
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'an-app', private: true, type: 'module' }));
  // What the README tells users to install, plus the TypeScript types a TS app adds.
  const dependencies = ['express@^5', 'hono@^4', 'better-sqlite3@^12', '@opentelemetry/api@^1.9.0', '@types/express@^5', '@types/node@^20.19'];
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs, ...dependencies], { cwd: app, timeout: INSTALL_TIMEOUT });
}, INSTALL_TIMEOUT);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** The JSON line a script printed last. */
function lastJson(stdout: string): any {
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

/** A refund recorded through the middleware and served back through the router. */
function expectRefundServed(result: any): void {
  expect(result.status).toBe(201);
  expect(result.list.data).toHaveLength(1);
  expect(result.list.data[0]).toMatchObject({
    action_type: 'refund',
    resource: 'payment',
    resource_id: 'pay_42',
    user: { id: 'usr_alice', email: 'alice@example.com' },
    account_id: 'acc_acme',
    outcome: 'success',
    status_code: 201,
    request: { method: 'POST', route: '/payments/:payment_id/refunds' },
  });
}

describe('the packed packages', () => {
  it('hold built JavaScript and declarations, and no export a runtime or compiler must transpile', async () => {
    const published: string[] = [];
    for (const name of await readdir(join(ROOT, 'packages'))) {
      if (!JSON.parse(await readFile(join(ROOT, 'packages', name, 'package.json'), 'utf8')).private) published.push(name);
    }
    expect(tarballs).toHaveLength(published.length);
    for (const name of await readdir(join(app, 'node_modules/@audit-trail'))) {
      const dir = join(app, 'node_modules/@audit-trail', name);
      const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
      const files = await readdir(dir);
      expect(files, name).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'CHANGELOG.md', 'dist', 'package.json']));
      expect(JSON.stringify(manifest), name).not.toMatch(/workspace:/);
      const targets = Object.values(manifest.exports as Record<string, Record<string, string>>).flatMap((entry) => Object.values(entry));
      expect(targets.length, name).toBeGreaterThan(0);
      for (const target of targets) {
        expect(target, `${name}: ${target}`).toMatch(/^\.\/dist\/.*\.(js|d\.ts)$/);
        await expect(readFile(join(dir, target)), `${name}: ${target}`).resolves.toBeTruthy();
      }
      expect(manifest.engines.node).toBe('>=20.19');
      expect(manifest.license).toBe('MIT');
    }
  });

  it('pass publint, and @arethetypeswrong/cli for ESM consumers (node10 and node16-cjs: see each README)', async () => {
    const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);
    for (const tarball of tarballs) {
      const unpacked = await mkdtemp(join(work, 'lint-'));
      await run('tar', ['xzf', tarball, '-C', unpacked]);
      const publint = await run(bin('publint'), [join(unpacked, 'package')], { timeout: RUNTIME_TIMEOUT });
      expect(publint.stdout, tarball).toMatch(/All good!/);
      // attw exits non-zero on any problem in the resolutions it checks.
      await run(bin('attw'), [tarball, '--profile', 'esm-only'], { timeout: RUNTIME_TIMEOUT });
    }
  }, INSTALL_TIMEOUT);

  it('run a plain-JavaScript Express app on the SQLite store with node (ESM)', async () => {
    const { stdout } = await run(process.execPath, ['express-app.mjs', join(work, 'esm.db')], { cwd: app, timeout: RUNTIME_TIMEOUT });
    expectRefundServed(lastJson(stdout));
  }, RUNTIME_TIMEOUT);

  it('run the same app loaded with require()', async () => {
    const { stdout } = await run(process.execPath, ['express-app.cjs', join(work, 'cjs.db')], { cwd: app, timeout: RUNTIME_TIMEOUT });
    expectRefundServed(lastJson(stdout));
  }, RUNTIME_TIMEOUT);

  it('run the CLI with node alone (no TypeScript loader installed)', async () => {
    await expect(readdir(join(app, 'node_modules/tsx'))).rejects.toThrow();
    await run(process.execPath, ['express-app.mjs', join(work, 'cli.db')], { cwd: app, timeout: RUNTIME_TIMEOUT });
    const { stdout } = await run(join(app, 'node_modules/.bin/audit-trail'), ['query', '--store', `sqlite:${join(work, 'cli.db')}`, '--account', 'acc_acme', '--action-type', 'refund'], { cwd: app, timeout: RUNTIME_TIMEOUT });
    expect(JSON.parse(stdout.trim().split('\n')[0]!)).toMatchObject({ action_type: 'refund', resource_id: 'pay_42' });
  }, RUNTIME_TIMEOUT);

  it.each(['nodenext', 'bundler'])('type-check a strict TypeScript app under %s resolution with skipLibCheck false', async (resolution) => {
    const result = await run(process.execPath, [TSC, '-p', `tsconfig.${resolution}.json`], { cwd: app, timeout: RUNTIME_TIMEOUT }).catch((error) => error);
    expect(`${result.stdout}${result.stderr}`).toBe('');
    // The check did read the packages' declarations (skipLibCheck false checks them too).
    const { stdout } = await run(process.execPath, [TSC, '-p', `tsconfig.${resolution}.json`, '--listFilesOnly'], { cwd: app });
    expect(stdout).toMatch(/node_modules\/@audit-trail\/express\/dist\/index\.d\.ts/);
    expect(stdout).not.toMatch(/node_modules\/@audit-trail\/[^/]+\/src\//);
  }, RUNTIME_TIMEOUT);

  it('type-check with TypeScript 5.4, the oldest the declarations support (they use NoInfer)', async () => {
    const result = await run('npx', ['-y', '-p', 'typescript@5.4.5', 'tsc', '-p', 'tsconfig.oldest.json'], { cwd: app, timeout: RUNTIME_TIMEOUT }).catch((error) => error);
    expect(`${result.stdout}${result.stderr}`).toBe('');
  }, RUNTIME_TIMEOUT);

  it('make a typo in an action type a compile error', async () => {
    const failed = await run(process.execPath, [TSC, '-p', 'tsconfig.typo.json'], { cwd: app }).catch((error) => error);
    expect(failed.code).toBe(2);
    expect(failed.stdout).toMatch(/typo\.ts\(\d+,\d+\): error TS2345: Argument of type '"refnd"'/);
  }, RUNTIME_TIMEOUT);

  it('run a Hono app in Bun from node_modules, a path opening with bun:sqlite', async () => {
    const { stdout } = await run('npx', ['-y', 'bun@1.4.5', 'hono-main.mjs', join(work, 'bun.db')], { cwd: app, timeout: RUNTIME_TIMEOUT });
    const result = lastJson(stdout);
    expect(result.runtime).toBe('bun');
    expectRefundServed(result);
    await expect(readFile(join(work, 'bun.db'))).resolves.toBeTruthy();
  }, RUNTIME_TIMEOUT);

  it('run a Hono app in Deno from node_modules', async () => {
    const { stdout } = await run('npx', ['-y', 'deno@2.9.6', 'run', '--no-prompt', '--allow-read', '--allow-env', 'hono-main.mjs'], {
      cwd: app,
      timeout: RUNTIME_TIMEOUT,
      env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
    });
    const result = lastJson(stdout);
    expect(result.runtime).toBe('deno');
    expectRefundServed(result);
  }, RUNTIME_TIMEOUT);

  it('run a Hono app in workerd through an esbuild bundle as wrangler makes it', async () => {
    const out = join(work, 'worker');
    await build({
      entryPoints: [join(app, 'worker.mjs')],
      outdir: out,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      conditions: ['workerd', 'worker', 'browser'],
      mainFields: ['module', 'main'],
      logLevel: 'silent',
    });
    const mf = new Miniflare({ modules: true, script: await readFile(join(out, 'worker.js'), 'utf8'), compatibilityDate: '2025-07-01' });
    try {
      const { drive } = await import(/* @vite-ignore */ join(app, 'hono-app.mjs'));
      const result = await drive(async (request: Request) => {
        const response = await mf.dispatchFetch(request.url, { method: request.method, headers: [...request.headers] });
        return new Response(await response.text(), { status: response.status });
      });
      expectRefundServed(result);
    } finally {
      await mf.dispose();
    }
  }, RUNTIME_TIMEOUT);
});
