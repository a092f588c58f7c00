/**
 * The app API of audit-trail: define a catalog, create an auditor over a
 * store, serve Retrieve Audit Data, verify the chain. Framework adapters are
 * written against `@audit-trail/core/adapter`, stores against
 * `@audit-trail/core/store`.
 *
 * @module
 */
export {
  defineCatalog,
  extendCatalog,
  paymentsOsCatalog,
  RETRIEVE_AUDIT_DATA,
  type ActionTypeOf,
  type Catalog,
  type PaymentsOsActionType,
  type PaymentsOsCatalog,
  type ResourceOf,
  type WithAuditRead,
} from './catalog.ts';
export type { AuditChange, AuditChanges, AuditRecord, AuditRequest, AuditTrace, AuditUser, JsonValue, Outcome } from './record.ts';
export { diffChanges, TRUNCATED_CHANGES_PATH, DEFAULT_MAX_CHANGES, type DiffChangesOptions } from './changes.ts';
export {
  ApiError,
  AUDIT_ERROR_CODES,
  AuditError,
  type ApiErrorBody,
  type ApiErrorCategory,
  type AuditErrorCode,
} from './errors.ts';
export type { RedactionOptions } from './redact.ts';
export type { SpoolStats, StatsBucket, StatsInterval, Store } from './store.ts';
export { CSV_COLUMNS, CSV_HEADER, csvCell, csvLine } from './csv.ts';
export type { AuditStats } from './stats.ts';
export { auditOpenApi, type AuditOpenApiOptions } from './openapi.ts';
export type { AuditViewerOptions } from './viewer/page.ts';
export { memoryStore, type MemoryStoreOptions } from './memory-store.ts';
export {
  createAuditor,
  type ActionInput,
  type AuditActor,
  type Auditor,
  type AuditorOptions,
  type AuditorStats,
  type OverflowPolicy,
  type RetryOptions,
} from './auditor.ts';
export type { RouteAction, RouteKey, RouteMap } from './route-map.ts';
export type { AuditContext } from './http.ts';
export {
  createAuditApi,
  matchAuditEndpoint,
  type AuditApi,
  type AuditEndpoint,
  type AuditApiContext,
  type AuditApiOptions,
  type AuditPage,
} from './audit-api.ts';
export type { ChainKey, ChainOptions } from './chain.ts';
export {
  verify,
  type BreakKind,
  type ChainSummary,
  type VerifyBreak,
  type VerifyIntact,
  type VerifyOptions,
  type VerifyProgress,
  type VerifyResult,
} from './verify.ts';
export {
  checkCheckpoint,
  CheckpointError,
  createCheckpoint,
  type Checkpoint,
  type CheckpointErrorCode,
  type CheckpointHead,
  type CreateCheckpointOptions,
} from './checkpoint.ts';
export {
  DEFAULT_MIN_AGE_DAYS,
  prune,
  RetentionError,
  setLegalHold,
  type LegalHold,
  type PruneAnchor,
  type PruneOptions,
  type PruneResult,
  type RetentionErrorCode,
} from './retention.ts';
export {
  BUNDLE_FORMAT,
  bundleWriter,
  verifyBundle,
  type BundleAlgorithm,
  type BundleBroken,
  type BundleChain,
  type BundleCheckpoint,
  type BundleHeader,
  type BundleIntact,
  type BundleKind,
  type BundleSigningKey,
  type BundleSink,
  type BundleVerifyKey,
  type BundleVerifyResult,
  type BundleWriterOptions,
  type VerifyBundleOptions,
} from './bundle.ts';
