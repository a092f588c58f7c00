export {
  defineCatalog,
  extendCatalog,
  isActionType,
  paymentsOsCatalog,
  RETRIEVE_AUDIT_DATA,
  type ActionTypeOf,
  type Catalog,
  type PaymentsOsActionType,
  type PaymentsOsCatalog,
  type ResourceOf,
  type WithAuditRead,
} from './catalog.ts';
export {
  auditChangeSchema,
  auditChangesSchema,
  auditRecordSchema,
  auditRequestSchema,
  auditTraceSchema,
  auditUserSchema,
  CLIENT_CLOSED_REQUEST,
  OUTCOMES,
  outcomeOfStatus,
  UNKNOWN_REQUEST,
  type AuditChange,
  type AuditChanges,
  type AuditRecord,
  type AuditRequest,
  type AuditTrace,
  type AuditUser,
  type JsonValue,
  type Outcome,
} from './record.ts';
export { diffChanges, TRUNCATED_CHANGES_PATH, DEFAULT_MAX_CHANGES, type DiffChangesOptions } from './changes.ts';
export {
  API_ERROR_CATEGORIES,
  ApiError,
  apiErrorResponse,
  AUDIT_ERROR_CODES,
  AuditError,
  type ApiErrorBody,
  type ApiErrorCategory,
  type AuditErrorCode,
} from './errors.ts';
export { newRecordId } from './ids.ts';
export {
  createRedactor,
  DEFAULT_SECRET_KEY_FRAGMENTS,
  DEFAULT_SECRET_KEYS,
  passesLuhn,
  REDACTED,
  type RedactionOptions,
  type Redactor,
} from './redact.ts';
export {
  compareKeyset,
  matchesFilter,
  ORDERS,
  type KeysetPosition,
  type Order,
  type Store,
  type StoreFilter,
  type StoreQuery,
} from './store.ts';
export { memoryStore, type MemoryStoreOptions } from './memory-store.ts';
export {
  createAuditor,
  OVERFLOW_POLICIES,
  type OverflowPolicy,
  type RetryOptions,
  type ActionInput,
  type AuditActor,
  type Auditor,
  type AuditorOptions,
  type AuditorStats,
} from './auditor.ts';
export {
  compileRouteMap,
  HTTP_METHODS,
  type HttpMethod,
  type RouteAction,
  type RouteKey,
  type RouteMap,
  type RouteMapOptions,
  type RouteMatch,
  type RouteMatcher,
} from './route-map.ts';
export { createCursorCodec, type CursorCodec } from './cursor.ts';
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
  createAuditApi,
  type AuditApi,
  type AuditApiContext,
  type AuditApiOptions,
  type AuditPage,
} from './audit-api.ts';
export { parseTraceparent } from './trace.ts';
export {
  createAuditContext,
  recordRequest,
  recordRequestDurably,
  REQUIRED_RECORD_UNAVAILABLE,
  requestAction,
  runHook,
  type AuditContext,
  type RequestFacts,
} from './http.ts';
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
export {
  BREAK_KINDS,
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
  CHECKPOINT_ERROR_CODES,
  CHECKPOINT_FORMAT,
  checkCheckpoint,
  CheckpointError,
  createCheckpoint,
  type Checkpoint,
  type CheckpointErrorCode,
  type CheckpointHead,
  type CreateCheckpointOptions,
} from './checkpoint.ts';
export {
  activeSpan,
  addAuditEvent,
  AUDIT_EVENT_NAME,
  AUDIT_METER_NAME,
  AUDIT_METRICS,
  auditEventAttributes,
  requestTrace,
  type HeaderCarrier,
} from './otel.ts';
export { addRequestEvent } from './http.ts';
