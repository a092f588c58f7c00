export {
  sqliteStore,
  SYNCHRONOUS_MODES,
  type SqliteStoreOptions,
  type SynchronousMode,
} from './sqlite-store.ts';
export type { SqliteDatabase, SqliteStatement, SqliteValue } from './database.ts';
export { SCHEMA_VERSION } from './schema.ts';
export { nodeChainHasher } from '@audit-trail/core/store';
export { CHAIN_OBJECTS, RETENTION_OBJECTS } from './schema.ts';
