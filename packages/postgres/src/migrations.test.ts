import { randomUUID } from 'node:crypto';
import { verify } from '@audit-trail/core';
import { sampleRecord } from '@audit-trail/store-conformance';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { postgresStore, SCHEMA_VERSION } from './index.ts';
import { MIGRATIONS, MIGRATIONS_TABLE } from './migrations.ts';

const databaseUrl = inject('databaseUrl');
const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
const schemas: string[] = [];

/** A schema name no other test uses; dropped after the file. */
function freshSchema(): string {
  const schema = `test_migrations_${randomUUID().slice(0, 8)}`;
  schemas.push(schema);
  return schema;
}

afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

async function history(schema: string, table = 'audit_records') {
  const { rows } = await admin.query(`SELECT version FROM ${schema}.${MIGRATIONS_TABLE} WHERE table_name = $1 ORDER BY version`, [table]);
  return rows.map((row: { version: number }) => row.version);
}

describe('migrations', () => {
  it('migrate exactly once when several instances start at the same moment', async () => {
    const schema = freshSchema();
    const stores = Array.from({ length: 6 }, () => postgresStore({ connectionString: databaseUrl, schema, poolSize: 2 }));
    try {
      // Each store on its own pool, as separate app instances would be.
      await Promise.all(stores.map((store) => store.migrate()));
      expect(await history(schema)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
      const { rows } = await admin.query('SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname', [
        schema,
        'audit_records',
      ]);
      expect(rows.map((row: { indexname: string }) => row.indexname)).toEqual([
        'audit_records_account_idx',
        'audit_records_action_idx',
        'audit_records_chain_idx',
        'audit_records_chain_null',
        'audit_records_pkey',
        'audit_records_resource_idx',
        'audit_records_user_idx',
      ]);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('keeps a history per table, so two tables can share a schema', async () => {
    const schema = freshSchema();
    const first = postgresStore({ connectionString: databaseUrl, schema, table: 'first_trail' });
    const second = postgresStore({ connectionString: databaseUrl, schema, table: 'second_trail' });
    try {
      await Promise.all([first.migrate(), second.migrate()]);
      expect(await history(schema, 'first_trail')).toHaveLength(SCHEMA_VERSION);
      expect(await history(schema, 'second_trail')).toHaveLength(SCHEMA_VERSION);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('refuses a table migrated by a newer version of the package', async () => {
    const schema = freshSchema();
    const current = postgresStore({ connectionString: databaseUrl, schema });
    await current.migrate();
    await current.close();
    await admin.query(`INSERT INTO ${schema}.${MIGRATIONS_TABLE} (table_name, version, description) VALUES ('audit_records', $1, 'from the future')`, [
      SCHEMA_VERSION + 1,
    ]);

    const older = postgresStore({ connectionString: databaseUrl, schema });
    try {
      const refusal = { name: 'AuditError', code: 'store_failed', message: expect.stringMatching(new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than the ${SCHEMA_VERSION}`)) };
      await expect(older.migrate()).rejects.toMatchObject(refusal);
      await expect(older.append([])).rejects.toMatchObject(refusal);
      await expect(older.get('acc_acme', 'aud_1')).rejects.toMatchObject(refusal);
    } finally {
      await older.close();
    }
  });

  it('upgrades a version 1 table: an index built beforehand is kept, old records stay unchained, new ones chain', async () => {
    const schema = freshSchema();
    const setup = postgresStore({ connectionString: databaseUrl, schema, chain: false });
    const legacy = sampleRecord({ account_id: 'acc_old' });
    await setup.append([legacy]);
    await setup.close();
    // Back to version 1, but with the chain index already built (as CONCURRENTLY would, ahead of the upgrade).
    await admin.query(`DROP TABLE ${schema}.audit_records_chain_heads`);
    await admin.query(`DROP INDEX ${schema}.audit_records_chain_null`);
    await admin.query(`DELETE FROM ${schema}.${MIGRATIONS_TABLE} WHERE version >= 2`);
    await admin.query(`DROP FUNCTION ${schema}.audit_records_append_chained`);

    const store = postgresStore({ connectionString: databaseUrl, schema });
    try {
      const fresh = sampleRecord({ account_id: 'acc_old' });
      await store.append([fresh]);
      expect(await history(schema)).toEqual(MIGRATIONS.map((m) => m.version));
      expect((await store.scanChain!('acc_old', null, 10)).map((l) => [l.seq, l.record.id])).toEqual([[1, fresh.id]]);
      expect((await store.scanUnchained!('acc_old', null, 10)).map((r) => r.id)).toEqual([legacy.id]);
    } finally {
      await store.close();
    }
  });

  it('upgrades a version 2 table in place: its chained records still verify, and new ones chain with changes', async () => {
    const schema = freshSchema();
    const account = `acc_${randomUUID()}`;
    const setup = postgresStore({ connectionString: databaseUrl, schema });
    const legacy = [sampleRecord({ account_id: account }), sampleRecord({ account_id: account })];
    await setup.append(legacy);
    await setup.close();
    // What @audit-trail/postgres wrote before migration 3: the same rows, without the column.
    await admin.query(`ALTER TABLE ${schema}.audit_records DROP COLUMN changes`);
    await admin.query(`DELETE FROM ${schema}.${MIGRATIONS_TABLE} WHERE version >= 3`);
    await admin.query(`DROP FUNCTION ${schema}.audit_records_append_chained`);

    const store = postgresStore({ connectionString: databaseUrl, schema });
    try {
      const changed = sampleRecord({ account_id: account, changes: { url: { from: 'https://a.example', to: 'https://b.example' } } });
      await store.append([changed]);
      expect(await history(schema)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await store.get(account, legacy[0]!.id)).toEqual(legacy[0]);
      expect((await store.get(account, changed.id))?.changes).toEqual(changed.changes);
      expect(await verify(store)).toMatchObject({ ok: true });
      const { rows } = await admin.query(`SELECT changes FROM ${schema}.audit_records ORDER BY chain_seq`);
      expect(rows).toEqual([{ changes: null }, { changes: null }, { changes: changed.changes }]);
    } finally {
      await store.close();
    }
  });

  it('needs no DDL once the table is up to date', async () => {
    const schema = freshSchema();
    const setup = postgresStore({ connectionString: databaseUrl, schema });
    await setup.migrate();
    await setup.close();
    const role = `audit_writer_${randomUUID().slice(0, 8)}`;
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'writer'`);
    try {
      await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
      // The least a writer needs: no UPDATE or DELETE on the records, UPDATE only on the chain heads.
      await admin.query(`GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
      await admin.query(`GRANT UPDATE ON ${schema}.audit_records_chain_heads TO ${role}`);
      const url = new URL(databaseUrl);
      url.username = role;
      url.password = 'writer';
      const writer = postgresStore({ connectionString: url.href, schema });
      try {
        await writer.append([]);
        expect(await writer.get('acc_acme', 'aud_none')).toBeNull();
        const record = sampleRecord({ account_id: `acc_${randomUUID()}` });
        await writer.append([record]);
        await writer.append([sampleRecord({ account_id: record.account_id })]);
        expect(await writer.get(record.account_id!, record.id)).toEqual(record);
        expect(await writer.chainHeads!(record.account_id)).toMatchObject([{ seq: 2 }]);
        const direct = new pg.Client({ connectionString: url.href });
        await direct.connect();
        try {
          await expect(direct.query(`UPDATE ${schema}.audit_records SET details = '{}'`)).rejects.toThrow(/permission denied/);
        } finally {
          await direct.end();
        }
      } finally {
        await writer.close();
      }
    } finally {
      await admin.query(`DROP OWNED BY ${role}`);
      await admin.query(`DROP ROLE ${role}`);
    }
  });
});
