import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleNeutral, DRIVER, FIXTURE } from './bundle.ts';
import { TRACEPARENT, type Driven } from './drive.ts';

// One bundle of @audit-trail/core + @audit-trail/hono as published (their dist/) + hono, built once with
// no Node built-ins, run unchanged in four runtimes. Each run records a refund
// through the audit middleware and reads it back through the audit router.

const run = promisify(execFile);
const RUNTIME_TIMEOUT = 120_000;

let dir: string;
let fixture: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-trail-portability-'));
  await bundleNeutral({ fixture: FIXTURE, drive: DRIVER }, dir);
  fixture = await readFile(join(dir, 'fixture.mjs'), 'utf8');
  // The same entry for Bun and Deno: import the bundle, drive it through app.fetch, print JSON.
  await writeFile(
    join(dir, 'main.mjs'),
    [
      "import app from './fixture.mjs';",
      "import { drive } from './drive.mjs';",
      'const driven = await drive((request) => Promise.resolve(app.fetch(request)));',
      'console.log(JSON.stringify(driven));',
    ].join('\n'),
  );
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** What every runtime must show: the action recorded as it happened, and the router serving it back. */
function expectRecordedAndServed(driven: Driven, runtime: string): void {
  expect(driven.stats).toMatchObject({ runtime, written: 1, queued: 0, dropped: 0, failed: 0, errors: [] });
  expect(driven.refund).toEqual({ status: 201, body: { id: 'rfd_1', payment_id: 'pay_42', amount: 100 } });
  expect(driven.list.status).toBe(200);
  expect(driven.list.body.data).toHaveLength(1);
  const record = driven.list.body.data[0];
  expect(record).toMatchObject({
    action_type: 'refund',
    resource: 'payment',
    resource_id: 'pay_42',
    user: { id: 'usr_alice', email: 'alice@example.com' },
    account_id: 'acc_acme',
    app_id: 'app_eu',
    outcome: 'success',
    status_code: 201,
    request: { method: 'POST', path: '/payments/pay_42/refunds', route: '/payments/:payment_id/refunds' },
    trace: { trace_id: TRACEPARENT.split('-')[1], span_id: TRACEPARENT.split('-')[2] },
    details: {},
  });
  expect(record.id).toMatch(/^aud_/);
  expect(driven.one).toEqual({ status: 200, body: record });
  expect(driven.anonymous.status).toBe(401);
  expect(driven.anonymous.body).toMatchObject({ category: 'api_authentication_error' });
  expect(driven.refused.status).toBe(403);
  expect(driven.refused.body).toMatchObject({ category: 'api_authorization_error' });
}

function lastJsonLine(stdout: string): Driven {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as Driven;
}

describe('the Hono adapter, bundled once, in every runtime', () => {
  it('runs in Node', async () => {
    const { default: app } = (await import(/* @vite-ignore */ pathToFileURL(join(dir, 'fixture.mjs')).href)) as {
      default: { fetch: (request: Request) => Response | Promise<Response> };
    };
    const { drive } = (await import(/* @vite-ignore */ pathToFileURL(join(dir, 'drive.mjs')).href)) as typeof import('./drive.ts');
    expectRecordedAndServed(await drive(async (request) => app.fetch(request)), 'node');
  });

  it(
    'runs in Bun',
    async () => {
      const { stdout } = await run('npx', ['-y', 'bun@1.4.5', 'run', 'main.mjs'], { cwd: dir, timeout: RUNTIME_TIMEOUT });
      expectRecordedAndServed(lastJsonLine(stdout), 'bun');
    },
    RUNTIME_TIMEOUT,
  );

  it(
    'runs in Deno',
    async () => {
      const { stdout } = await run('npx', ['-y', 'deno@2.9.6', 'run', '--no-prompt', 'main.mjs'], {
        cwd: dir,
        timeout: RUNTIME_TIMEOUT,
        env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
      });
      expectRecordedAndServed(lastJsonLine(stdout), 'deno');
    },
    RUNTIME_TIMEOUT,
  );

  it(
    'runs in workerd (Cloudflare Workers), where waitUntil keeps the write alive after the response',
    async () => {
      const mf = new Miniflare({ modules: true, script: fixture, compatibilityDate: '2025-07-01' });
      try {
        const { drive } = await import('./drive.ts');
        const driven = await drive(async (request) => {
          const response = await mf.dispatchFetch(request.url, {
            method: request.method,
            headers: [...request.headers],
            ...(request.body ? { body: await request.text() } : {}),
          });
          return new Response(await response.text(), { status: response.status, headers: [...response.headers] });
        });
        expectRecordedAndServed(driven, 'workerd');
      } finally {
        await mf.dispose();
      }
    },
    RUNTIME_TIMEOUT,
  );
});
