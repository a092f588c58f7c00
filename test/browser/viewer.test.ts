import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memoryStore } from '@audit-trail/core';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleApps, type ExampleServer } from '../support/apps.ts';
import { client } from '../support/client.ts';

// The viewer in a real browser (Debian's chromium driven by playwright-core)
// against each example app on a real HTTP server: sign in with a demo token,
// records, filters in the URL, paging both ways, a record's detail, export,
// the operator's refusal, record text shown as text, and an axe-core scan.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SCREENSHOT = join(root, 'docs', 'viewer.png');
const XSS = '<img src=x onerror="window.__xss=1">';

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
afterAll(async () => {
  await browser?.close();
});

/** Records for the viewer: payments (a failing one among them), a customer whose name is HTML, updates with changes. */
async function seed(server: ExampleServer): Promise<void> {
  const alice = client(server, 'alice', { 'app-id': 'app_eu' });
  for (let i = 0; i < 30; i++) expect((await alice.post('/payments', { amount: 100 + i, currency: 'EUR' })).status).toBe(201);
  for (let i = 0; i < 3; i++) expect((await alice.post('/payments', { amount: -1 })).status).toBe(400);
  const app = await alice.post('/apps', { name: 'EU shop' });
  expect((await alice.patch(`/apps/${app.body.id}`, { name: 'EU shop 2' })).status).toBe(200);
  expect((await alice.post('/customers', { name: XSS })).status).toBe(201);
  expect((await client(server, 'carol').post('/payments', { amount: 7, currency: 'USD' })).status).toBe(201);
  await server.auditor.flush();
}

/** Problems the page ran into: script errors, CSP violations, failed console messages. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 40[13]|status of 503/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  return problems;
}

async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/audit/ui`);
  await page.getByLabel('Demo token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const rowIds = (page: Page) => page.locator('#at-rows tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-id')));
const column = (page: Page, index: number) =>
  page.locator(`#at-rows tr td:nth-child(${index})`).evaluateAll((cells) => cells.map((cell) => cell.textContent));

async function axeFindings(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, so the page's CSP (no inline script) stays in force.
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> }> } }).axe;
    return axe.run(document, { resultTypes: ['violations'] });
  });
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.nodes.length} node(s), e.g. ${v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join(', ')}`);
}

for (const app of exampleApps) {
  // The cases share one seeded server, and every read they make is itself recorded (retrieve_audit_data):
  // they keep their order under --sequence.shuffle, so the listing case sees the seeded records first.
  describe(`the viewer on the ${app.name} example, in Chromium`, { shuffle: false }, () => {
    let server: ExampleServer;
    let context: BrowserContext;

    beforeAll(async () => {
      server = await app.start({ store: memoryStore() });
      await seed(server);
    });
    afterAll(async () => {
      await context?.close();
      await server?.close();
    });

    it('serves the page to anyone, with a CSP that allows no inline script; the data endpoints still answer 401', async () => {
      const page = await fetch(`${server.url}/audit/ui`);
      expect(page.status).toBe(200);
      const csp = page.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(await page.text()).not.toMatch(/<script(?![^>]*\bsrc=)/);
      expect((await fetch(`${server.url}/audit/ui/viewer.js`)).headers.get('content-type')).toMatch(/javascript/);
      for (const path of ['/audit', '/audit/export', '/audit/stats', '/audit/openapi.json']) {
        expect((await fetch(`${server.url}${path}`)).status, path).toBe(401);
      }
    });

    it('signs in with a demo token, shows records newest first, filters through the URL, pages both ways, opens a record, exports', async () => {
      context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 }, locale: 'en-GB', timezoneId: 'Europe/Berlin' });
      const page = await context.newPage();
      const problems = watch(page);
      await signIn(page, server.url, 'demo-alice');

      // Records: alice's account only, newest first; time in the viewer's zone, UTC on hover.
      await expect.poll(() => page.locator('#at-rows tr').count()).toBeGreaterThan(0);
      expect(await page.locator('#at-signin').isHidden()).toBe(true);
      const actions = await column(page, 2);
      expect(actions[0]).toBe('create_customer');
      const time = page.locator('#at-rows tr').first().locator('time');
      const utc = await time.getAttribute('datetime');
      expect(await time.getAttribute('title')).toBe(`${utc} (UTC)`);
      expect(await time.textContent()).not.toContain('Z');
      expect(await page.locator('#at-rows').textContent()).not.toContain('carol');
      expect(await page.locator('#at-rows .at-outcome-failure').first().textContent()).toBe('Failure');

      // The chart: buckets from /stats, failures drawn apart from successes.
      await expect.poll(() => page.locator('#at-chart rect.at-bar-failure').count()).toBeGreaterThan(0);
      expect(await page.locator('#at-chart rect.at-bar-success').count()).toBeGreaterThan(0);

      // The screenshot of the README, with records and the chart on it.
      const shot = join(mkdtempSync(join(tmpdir(), 'audit-viewer-')), 'viewer.png');
      await page.screenshot({ path: shot, fullPage: false });
      if (app.name === 'express' && (process.env.AUDIT_TRAIL_SCREENSHOT === '1' || !existsSync(SCREENSHOT))) copyFileSync(shot, SCREENSHOT);

      // A filter: in the URL, and the rows follow it.
      await page.getByLabel('Action types').selectOption(['create_payment']);
      await page.getByLabel('Outcome').selectOption('failure');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await expect.poll(() => page.url()).toContain('action_type=create_payment');
      expect(page.url()).toContain('outcome=failure');
      await expect.poll(() => page.locator('#at-rows tr').count()).toBe(3);
      expect(new Set(await column(page, 2))).toEqual(new Set(['create_payment']));

      // Back: the unfiltered view again, and the form follows the URL.
      await page.goBack();
      await expect.poll(() => page.url()).not.toContain('action_type');
      await expect.poll(async () => new Set(await column(page, 2)).size).toBeGreaterThan(1);
      expect(await page.getByLabel('Outcome').inputValue()).toBe('');

      // Paging with cursors: 25 a page; older, then newer again. The seeded business unit only:
      // the viewer's own reads are audited too, and would shift the pages between two loads.
      await page.getByLabel('App').fill('app_eu');
      await page.getByLabel('Per page').selectOption('25');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await expect.poll(() => page.locator('#at-rows tr').count()).toBe(25);
      const first = await rowIds(page);
      await page.getByRole('button', { name: 'Older →' }).click();
      await expect.poll(() => page.url()).toContain('cursor=');
      await expect.poll(async () => (await rowIds(page))[0]).not.toBe(first[0]);
      const second = await rowIds(page);
      expect(second.some((id) => first.includes(id))).toBe(false);
      expect(second.length).toBeGreaterThan(0);
      await page.getByRole('button', { name: '← Newer' }).click();
      await expect.poll(() => page.url()).not.toContain('cursor=');
      await expect.poll(() => rowIds(page)).toEqual(first);
      await page.goBack();
      await expect.poll(() => rowIds(page)).toEqual(second);
      await page.goBack();
      await expect.poll(() => rowIds(page)).toEqual(first);

      // A record's detail: every field; details as JSON, text as text (no element made, no script run).
      await page.getByLabel('Action types').selectOption(['create_customer']);
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await expect.poll(() => page.locator('#at-rows tr').count()).toBe(1);
      await page.locator('#at-rows tr').first().getByRole('button').click();
      const dialog = page.getByRole('dialog');
      await expect.poll(() => dialog.isVisible()).toBe(true);
      const details = await page.locator('#at-detail-details').textContent();
      expect(JSON.parse(details!)).toEqual({ request_body: { name: XSS } });
      expect(await dialog.locator('img').count()).toBe(0);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
      for (const field of ['id', 'created', 'action_type', 'resource', 'resource_id', 'user.id', 'user.email', 'account_id', 'app_id', 'outcome', 'status_code', 'request.method', 'request.path', 'request.route', 'request.ip', 'request.user_agent', 'request.request_id', 'trace.trace_id']) {
        expect(await dialog.locator('dt', { hasText: new RegExp(`^${field.replace('.', '\\.')}$`) }).count(), field).toBe(1);
      }
      await page.keyboard.press('Escape');
      await expect.poll(() => dialog.isVisible()).toBe(false);

      // An update's changes: a from → to table and the JSON.
      await page.getByLabel('Action types').selectOption(['update_business_unit', 'create_business_unit']);
      await page.getByLabel('Resource', { exact: true }).selectOption('app');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await expect.poll(() => page.url()).toContain('resource=app');
      await expect.poll(() => page.locator('#at-rows tr').count()).toBe(2);
      await page.locator('#at-rows tr').first().getByRole('button').click();
      const change = page.locator('#at-detail-changes table tbody tr', { has: page.getByRole('rowheader', { name: 'name', exact: true }) });
      expect(await change.locator('td').allTextContents()).toEqual(['"EU shop"', '"EU shop 2"']);
      expect(JSON.parse((await page.locator('#at-detail-changes pre').textContent())!).name).toEqual({ from: 'EU shop', to: 'EU shop 2' });
      await page.getByRole('button', { name: 'Close' }).click();

      // Export of the current filter.
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
      const csv = readFileSync((await download.path())!, 'utf8').trim().split('\r\n');
      expect(download.suggestedFilename()).toMatch(/^audit-\d{4}-\d{2}-\d{2}\.csv$/);
      expect(csv[0]).toMatch(/^id,created,action_type,/);
      expect(csv.slice(1).map((line) => line.split(',')[2])).toEqual(['update_business_unit', 'create_business_unit']);
      const [ndjson] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export NDJSON' }).click()]);
      const lines = readFileSync((await ndjson.path())!, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
      expect(lines.map((r) => [r.action_type, r.resource])).toEqual([['update_business_unit', 'app'], ['create_business_unit', 'app']]);

      expect(problems).toEqual([]);
    });

    it('shows an operator the refusal, and an unknown token as such', async () => {
      const operator = await browser.newContext();
      try {
        const page = await operator.newPage();
        await signIn(page, server.url, 'demo-bob');
        await expect.poll(() => page.getByRole('heading', { name: 'Access refused' }).isVisible()).toBe(true);
        expect(await page.locator('#at-app').isHidden()).toBe(true);
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByLabel('Demo token').fill('demo-nobody');
        await page.getByRole('button', { name: 'Sign in' }).click();
        await expect.poll(() => page.locator('#at-signin-error').textContent()).toContain('not known');
      } finally {
        await operator.close();
      }
    });

    it('passes an axe-core scan with no serious or critical finding, light and dark, signed out, listing and in a detail', async () => {
      for (const colorScheme of ['light', 'dark'] as const) {
        const scan = await browser.newContext({ colorScheme, viewport: { width: 1280, height: 900 } });
        try {
          const page = await scan.newPage();
          await page.goto(`${server.url}/audit/ui`);
          await page.getByLabel('Demo token').waitFor();
          expect(await axeFindings(page), `${colorScheme}, signed out`).toEqual([]);
          await page.getByLabel('Demo token').fill('demo-alice');
          await page.keyboard.press('Enter');
          await expect.poll(() => page.locator('#at-rows tr').count()).toBeGreaterThan(0);
          await expect.poll(() => page.locator('#at-chart svg').count()).toBe(1);
          expect(await axeFindings(page), `${colorScheme}, records`).toEqual([]);
          // Keyboard only: tab to the first record's button and open it with Enter.
          await page.locator('#at-rows tr').first().getByRole('button').focus();
          await page.keyboard.press('Enter');
          await expect.poll(() => page.getByRole('dialog').isVisible()).toBe(true);
          expect(await axeFindings(page), `${colorScheme}, detail`).toEqual([]);
        } finally {
          await scan.close();
        }
      }
    });
  });
}
