/** The contenders of the HTTP scenarios: a framework, and what runs around its route. */
export const EXPRESS_CONTENDERS = [
  'express:bare',
  'express:audit-count',
  'express:audit-memory',
  'express:audit-sqlite',
  'express:audit-postgres',
  'express:pino-http',
  'express:naive-sqlite',
] as const;

/** pino-http is Express-only; Hono's own `hono/logger` takes its place. */
export const HONO_CONTENDERS = [
  'hono:bare',
  'hono:audit-count',
  'hono:audit-memory',
  'hono:audit-sqlite',
  'hono:audit-postgres',
  'hono:logger',
  'hono:naive-sqlite',
] as const;

export type ContenderName = (typeof EXPRESS_CONTENDERS)[number] | (typeof HONO_CONTENDERS)[number];

/** What each contender is, for the report. */
export const CONTENDER_DESCRIPTIONS: Readonly<Record<ContenderName, string>> = Object.freeze({
  'express:bare': 'Express 5, the route alone',
  'express:audit-count': "expressAudit over a store that only counts the records it is handed (no I/O): the request path's own cost on the main thread",
  'express:audit-memory': 'expressAudit, memory store',
  'express:audit-sqlite': 'expressAudit, SQLite store (file)',
  'express:audit-postgres': 'expressAudit, PostgreSQL store',
  'express:pino-http': 'pino-http, to a discarding destination',
  'express:naive-sqlite': "naive: one synchronous better-sqlite3 INSERT per request on 'finish'",
  'hono:bare': 'Hono on @hono/node-server, the route alone',
  'hono:audit-count': "honoAudit over a store that only counts the records it is handed (no I/O): the request path's own cost on the main thread",
  'hono:audit-memory': 'honoAudit, memory store',
  'hono:audit-sqlite': 'honoAudit, SQLite store (file)',
  'hono:audit-postgres': 'honoAudit, PostgreSQL store',
  'hono:logger': 'hono/logger, printing to a no-op function',
  'hono:naive-sqlite': 'naive: one synchronous better-sqlite3 INSERT per request after next()',
});

/** How the parent configures a server child (JSON in `BENCH_SERVER`). */
export interface ServerConfig {
  contender: ContenderName;
  /** A temporary directory for SQLite files. */
  dir: string;
  /** For the PostgreSQL contenders. */
  databaseUrl?: string;
  /** The schema of the PostgreSQL contender's table. */
  pgSchema?: string;
  /** The auditor's `maxQueueSize`; default: core's default. */
  maxQueueSize?: number;
}

/** A request from the parent over IPC. */
export type ServerRequest =
  /** Flushes the auditor, then counts the records the store holds. */
  | { type: 'count' }
  /** `process.memoryUsage()` and the auditor's stats. */
  | { type: 'memory' }
  /** Like `memory`, after a full garbage collection. */
  | { type: 'memory-after-gc' }
  /** From now on, the store's `append` does not resolve until `resume`. */
  | { type: 'stall' }
  /** Lets stalled and later appends through. */
  | { type: 'resume' }
  /** CPU time so far (the whole process and its main thread), without flushing anything. */
  | { type: 'cpu' }
  /** Starts the V8 CPU profiler (needs `--enable-source-maps` to map frames back to TypeScript). */
  | { type: 'profile-start' }
  /** Stops it and returns the profile, its frames mapped to the original sources. */
  | { type: 'profile-stop' }
  /** Closes the server and the auditor, then exits. */
  | { type: 'stop' };

export interface MemoryReply {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** The auditor's stats; zeros for contenders without one. */
  queued: number;
  written: number;
  dropped: number;
  failed: number;
  /** Errors the auditor reported through onError, by code. */
  errors: Record<string, number>;
}

export type ServerReply =
  | {
      type: 'count';
      records: number | null;
      errors: Record<string, number>;
      /** CPU time the process has used so far (user + system, every thread), µs. */
      cpuMicros: number;
      /** CPU time of the main thread (the event loop) alone so far, µs; `null` where the OS does not say (not Linux). */
      mainThreadCpuMicros: number | null;
      /** The store's `append` calls so far (audited contenders only). */
      appends: { count: number; totalMs: number; maxMs: number } | null;
    }
  | { type: 'cpu'; cpuMicros: number; mainThreadCpuMicros: number | null }
  | ({ type: 'memory' } & MemoryReply)
  | ({ type: 'memory-after-gc' } & MemoryReply)
  | { type: 'stall' }
  | { type: 'resume' }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; profile: CpuProfile }
  | { type: 'stop' }
  | { type: 'error'; message: string };

/** A V8 CPU profile, as the inspector's `Profiler.stop` returns it (the fields the bench reads). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** The benchmarked route, its route-map entry, and the credentials every request sends. */
export const ROUTE = '/payments/:payment_id/refunds';
export const REQUEST_PATH = '/payments/pay_bench/refunds';
export const AUTHORIZATION = 'Bearer bench-token';
