import { randomUUID } from 'node:crypto';
import { testStore } from '@audit-trail/store-conformance';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { postgresStore } from './index.ts';

const databaseUrl = inject('databaseUrl');
// A schema of this file's own on the shared test database: cases isolate themselves by random account ids.
const schema = `test_conformance_${randomUUID().slice(0, 8)}`;

afterAll(async () => {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
});

testStore({ name: 'postgres', create: () => postgresStore({ connectionString: databaseUrl, schema }) });
