export {
  sqliteStore,
  SYNCHRONOUS_MODES,
  type SqliteStore,
  type SqliteStoreOptions,
  type SynchronousMode,
} from './sqlite-store.ts';
export { spooled, type SpooledStore, type SpoolOptions } from './spooled.ts';
export type { SqliteDatabase, SqliteStatement, SqliteValue } from './database.ts';
export { SCHEMA_VERSION } from './schema.ts';
export { nodeChainHasher } from '@audit-trail/core/store';
export { CHAIN_OBJECTS, RETENTION_OBJECTS } from './schema.ts';
