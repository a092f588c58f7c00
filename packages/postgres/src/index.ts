export { postgresStore, type PostgresStore, type PostgresStoreOptions } from './postgres-store.ts';
export type { PostgresPool, PostgresPoolClient, PostgresQueryable, PostgresQueryResult } from './client.ts';
export { MIGRATIONS_TABLE, SCHEMA_VERSION } from './migrations.ts';
export { nodeChainHasher } from '@audit-trail/core/store';
