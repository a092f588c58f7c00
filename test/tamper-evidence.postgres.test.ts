import { randomUUID } from 'node:crypto';
import { postgresStore } from '@audit-trail/postgres';
import pg from 'pg';
import { inject } from 'vitest';
import { CHAIN_KEY, tamperEvidence, type Row } from './support/tamper-scenarios.ts';

tamperEvidence(async () => {
  const databaseUrl = inject('databaseUrl');
  const schema = `test_tamper_${randomUUID().slice(0, 8)}`;
  const plainStore = postgresStore({ connectionString: databaseUrl, schema });
  const keyedStore = postgresStore({ connectionString: databaseUrl, schema, chain: { key: CHAIN_KEY } });
  await plainStore.migrate();
  // The attacker's own connection.
  const db = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const numbered = (text: string) => {
    let n = 0;
    return text.replace(/\?/g, () => `$${++n}`);
  };
  /** Values as `pg` sends them: jsonb columns come back as objects and go back as JSON text. */
  const value = (v: unknown) => (v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v);
  return {
    name: 'postgres',
    records: `${schema}.audit_records`,
    heads: `${schema}.audit_records_chain_heads`,
    plainStore,
    keyedStore,
    async sql(text, parameters = []) {
      return (await db.query(numbered(text), parameters.map(value))).rows as Row[];
    },
    async insertRow(row) {
      const columns = Object.keys(row);
      await db.query(
        `INSERT INTO ${schema}.audit_records (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
        Object.values(row).map(value),
      );
    },
    async close() {
      await plainStore.close();
      await keyedStore.close();
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await db.end();
    },
  };
});
