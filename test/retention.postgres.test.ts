import { randomUUID } from 'node:crypto';
import { postgresStore } from '@audit-trail/postgres';
import pg from 'pg';
import { inject } from 'vitest';
import { RETENTION_CHAIN_KEY, retentionScenarios } from './support/retention-scenarios.ts';

retentionScenarios('PostgreSQL', async () => {
  const databaseUrl = inject('databaseUrl');
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const schemas: string[] = [];
  const stores: Array<{ close(): Promise<void> }> = [];
  const numbered = (text: string) => {
    let n = 0;
    return text.replace(/\?/g, () => `$${++n}`);
  };
  return {
    async open() {
      const schema = `test_retention_${randomUUID().slice(0, 8)}`;
      schemas.push(schema);
      const store = postgresStore({ connectionString: databaseUrl, schema, poolSize: 3, chain: { key: RETENTION_CHAIN_KEY } });
      stores.push(store);
      await store.migrate();
      return {
        store,
        records: `${schema}.audit_records`,
        anchors: `${schema}.audit_records_prune_anchors`,
        async sql(text, parameters = []) {
          return (await db.query(numbered(text), parameters)).rows as Array<Record<string, unknown>>;
        },
      };
    },
    async close() {
      for (const store of stores) await store.close();
      for (const schema of schemas) await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await db.end();
    },
  };
});
