import { createAuditor, memoryStore, type AuditError } from '@audit-trail/core';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { fastifyAudit } from './audit.ts';

const alice = { user: { id: 'usr_alice' }, account_id: 'acc_1' };

function setup() {
  const store = memoryStore();
  const errors: AuditError[] = [];
  const auditor = createAuditor({ store, flushIntervalMs: 1, onError: (e) => errors.push(e) });
  const audit = fastifyAudit({ auditor, identify: () => alice });
  const records = async () => {
    await auditor.flush();
    return store.query({ accountId: 'acc_1', filter: {}, order: 'asc', limit: 10 });
  };
  return { auditor, audit, errors, records };
}

describe('fastifyAudit', () => {
  it('takes the action from a plain route config too, with details set by the handler', async () => {
    const { audit, records } = setup();
    const app = Fastify();
    await app.register(audit.plugin);
    app.post('/webhooks/:webhook_id', { config: { audit: { action: 'update_webhook_configuration', resourceId: 'webhook_id' } } }, async (request) => {
      request.audit.details.note = 'renamed';
      return { ok: true };
    });
    expect((await app.inject({ method: 'POST', url: '/webhooks/whk_1', payload: {} })).statusCode).toBe(200);
    expect(await records()).toMatchObject([
      { action_type: 'update_webhook_configuration', resource_id: 'whk_1', details: { note: 'renamed' }, request: { route: '/webhooks/:webhook_id' } },
    ]);
  });

  it('rejects a route config naming an action outside the catalog when the route is added', async () => {
    const { audit } = setup();
    const app = Fastify();
    await app.register(audit.plugin);
    expect(() => app.get('/x', { config: { audit: { action: 'refnd' } } }, async () => 'ok')).toThrow(/"refnd" is not in the catalog/);
  });

  it('takes a resource id from a function called after the response', async () => {
    const { audit, records } = setup();
    const app = Fastify();
    await app.register(audit.plugin);
    app.post('/customers', { config: audit.action('create_customer', { resourceId: (_request, reply) => reply.getHeader('x-id') as string }) }, async (_request, reply) => {
      reply.header('x-id', 'cus_9').code(201);
      return { id: 'cus_9' };
    });
    await app.inject({ method: 'POST', url: '/customers', payload: {} });
    expect((await records()).map((r) => [r.action_type, r.status_code, r.resource_id])).toEqual([['create_customer', 201, 'cus_9']]);
  });

  it('rejects configuration mistakes at setup, naming the option', () => {
    const { auditor } = setup();
    expect(() => fastifyAudit({ auditor, identify: 'x' as never })).toThrow('fastifyAudit: identify must be a function');
    expect(() => fastifyAudit({ auditor: undefined as never, identify: () => null })).toThrow('fastifyAudit: auditor is required');
    expect(() => fastifyAudit({ auditor, identify: () => null }).action('nope' as never)).toThrow(/not in the catalog/);
  });
});
