/**
 * The store kit: what a store author needs beyond the app API — the `Store`
 * interface, keyset paging, filters, and the hash chain (linking records as
 * they are appended, hashers). `@audit-trail/sqlite` and
 * `@audit-trail/postgres` are written against it.
 *
 * @module
 */
export {
  bucketStart,
  compareKeyset,
  matchesFilter,
  ORDERS,
  STATS_INTERVALS,
  type KeysetPosition,
  type StatsBucket,
  type StatsInterval,
  type StoreStatsQuery,
  type Order,
  type SpoolStats,
  type Store,
  type StoreFilter,
  type StoreQuery,
} from './store.ts';
export {
  canonicalJson,
  CHAIN_VERSION,
  chainDocument,
  chainKeyBytes,
  compareAccounts,
  GENESIS_HASH,
  groupByAccount,
  hashRecord,
  linkRecords,
  linkRecordsSync,
  MIN_CHAIN_KEY_BYTES,
  resolveChainOption,
  webCryptoHasher,
  wellFormed,
  type ChainedRecord,
  type ChainHasher,
  type ChainHead,
  type ChainKey,
  type ChainLink,
  type ChainOptions,
  type ChainPosition,
  type SyncChainHasher,
} from './chain.ts';
export { nodeChainHasher } from './node-hasher.ts';
export { auditStats, bucketStarts, statsByPaging, type AuditStats } from './stats.ts';
export { newRecordId } from './ids.ts';
export { auditRecordSchema, UNKNOWN_REQUEST, type AuditRequest, type AuditUser, type JsonValue, type Outcome } from './record.ts';
export {
  AUDIT_QUERY_PARAMETERS,
  auditQuerySchema,
  DEFAULT_LIMIT,
  filterOfQuery,
  MAX_LIMIT,
  parseAuditQuery,
  type AuditQuery,
  type AuditQueryParameter,
} from './query.ts';
export {
  checkPruneAnchor,
  DEFAULT_PRUNE_BATCH,
  pruneAnchorDocument,
  type LegalHold,
  type PruneAnchor,
  type RetentionStorage,
} from './retention.ts';
export { nextLineDigest, type BundleRecordLine } from './bundle.ts';
