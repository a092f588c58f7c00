import { defineConfig } from 'vitest/config';

/**
 * `AUDIT_TRAIL_EXIT_FIXTURE=<name>` runs one deliberately failing fixture of
 * `test/exit-code/fixtures/` through the normal test command, in place of the
 * suite; `test/exit-code/check.ts` uses it to prove that a failed run exits
 * non-zero. The global setup and teardown fixtures run inside the real global
 * setup (test/global-setup.ts), with the passing test.
 */
const fixture = process.env.AUDIT_TRAIL_EXIT_FIXTURE;

export default defineConfig({
  test: {
    include: fixture
      ? [`test/exit-code/fixtures/${fixture.startsWith('global-') ? 'passing' : fixture}.fixture.ts`]
      : ['packages/*/src/**/*.test.ts', 'examples/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/bench/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
