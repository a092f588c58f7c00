import type { TestProject } from 'vitest/node';
import build from './build-global-setup.ts';
import postgres from './postgres-global-setup.ts';

type Teardown = () => unknown;
type Setup = (project: TestProject) => unknown;

/**
 * The suite's one global setup: runs each part in order, and their teardowns
 * in reverse. Vitest reports a teardown that throws but still exits 0, so a
 * failing teardown sets the exit code here; and one part failing at setup
 * still tears down the parts before it.
 *
 * `AUDIT_TRAIL_EXIT_FIXTURE=global-…` adds a deliberately failing part from
 * `test/exit-code/fixtures/` (see vitest.config.ts).
 */
export default async function setup(project: TestProject): Promise<Teardown> {
  const parts: Setup[] = [build, postgres];
  const fixture = process.env.AUDIT_TRAIL_EXIT_FIXTURE;
  if (fixture?.startsWith('global-')) {
    parts.push(((await import(`./exit-code/fixtures/${fixture}.fixture.ts`)) as { default: Setup }).default);
  }
  const teardowns: Teardown[] = [];
  const teardown = async () => {
    for (const part of teardowns.reverse()) {
      try {
        await part();
      } catch (error) {
        process.exitCode = 1;
        console.error('global teardown failed:', error);
      }
    }
  };
  try {
    for (const part of parts) {
      const partTeardown = await part(project);
      if (typeof partTeardown === 'function') teardowns.push(partTeardown as Teardown);
    }
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
