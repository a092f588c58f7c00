import pg from 'pg';
import { startPostgresProcess } from '../../support/postgres-process.ts';

/** A PostgreSQL server the bench may use: its own embedded one, or the one `DATABASE_URL` names. */
export interface BenchPostgres {
  url: string;
  /** How the server came to be, for the report. */
  description: string;
  /** `SELECT version()`. */
  version: string;
  /** Stops and deletes the embedded server; nothing for `DATABASE_URL`. */
  stop(): Promise<void>;
}

const DATABASE = 'audit_trail_bench';
const PASSWORD = 'audit-trail-bench';

/**
 * `DATABASE_URL` when set; otherwise an embedded PostgreSQL
 * (`test/support/embedded-postgres.ts`, shared with the tests, run in a child process) in a fresh
 * directory under the system temp directory, on a free port, with PostgreSQL's
 * default durability settings (fsync and synchronous_commit on): the bench
 * measures what production pays.
 */
export async function startPostgres(): Promise<BenchPostgres> {
  const existing = process.env.DATABASE_URL;
  if (existing) {
    return { url: existing, description: 'the server of `DATABASE_URL`', version: await serverVersion(existing), stop: async () => undefined };
  }
  const server = await startPostgresProcess({ database: DATABASE, password: PASSWORD, dirPrefix: 'audit-trail-bench-pg-', durable: true });
  try {
    return {
      url: server.url,
      description: 'embedded-postgres, started for this run (default settings: fsync on, synchronous_commit on, shared_buffers 128 MB)',
      version: await serverVersion(server.url),
      stop: server.stop,
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: string }>('SELECT version()');
    return rows[0]!.version.split(' on ')[0]!;
  } finally {
    await client.end();
  }
}

/** Drops a schema and everything in it; for the bench's own schemas, also on a `DATABASE_URL` server. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
