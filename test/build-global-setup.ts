import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Builds the packages (incrementally: about a second when nothing changed) before any test
 * file runs, so that the tests of the packages as published (test/packaging, test/portability)
 * share one up-to-date dist/ and never build it concurrently. The rest of the suite runs
 * from sources.
 */
export default function setup(): void {
  const script = fileURLToPath(new URL('../scripts/build.mjs', import.meta.url));
  execFileSync(process.execPath, [script], { stdio: ['ignore', 'ignore', 'inherit'] });
}
