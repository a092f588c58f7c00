import { createAuditor, memoryStore } from '@audit-trail/core';
import { Hono } from 'hono';
import { streamText } from 'hono/streaming';
import { describe, expect, it } from 'vitest';
import { honoAudit } from './audit.ts';

describe('honoAudit and streamed responses', () => {
  it('records a streamed response with the status the client got', async () => {
    const store = memoryStore();
    const auditor = createAuditor({ store, flushIntervalMs: 1 });
    const audit = honoAudit({ auditor, identify: () => ({ user: { id: 'usr_1' }, account_id: 'acc_1' }) });
    const app = new Hono();
    app.use(audit.middleware);
    app.get('/reports/:id/export', audit.action('generate_report', { resourceId: 'id' }), (c) =>
      streamText(c, async (stream) => {
        for (let i = 0; i < 3; i++) await stream.writeln(`row ${i}`);
      }),
    );
    app.get('/reports/:id/denied', audit.action('generate_report', { resourceId: 'id' }), (c) => {
      c.status(403);
      return streamText(c, async (stream) => {
        await stream.write('no');
      });
    });
    const ok = await app.request('/reports/rpt_1/export');
    expect(await ok.text()).toBe('row 0\nrow 1\nrow 2\n');
    const denied = await app.request('/reports/rpt_2/denied');
    expect(denied.status).toBe(403);
    await denied.text();
    await auditor.flush();
    const records = await store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 10 });
    expect(records.map((r) => [r.resource_id, r.status_code, r.outcome])).toEqual([
      ['rpt_1', 200, 'success'],
      ['rpt_2', 403, 'failure'],
    ]);
  });
});
