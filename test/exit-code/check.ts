/**
 * Proves that the README's test command can fail: runs it once per fixture of
 * `fixtures/` (selected with `AUDIT_TRAIL_EXIT_FIXTURE`, see vitest.config.ts)
 * and exits 1 unless every failing fixture made it exit non-zero and the
 * passing control made it exit 0. `.ci/run` runs this on every CI run.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pnpm = ['-y', 'pnpm@12.4.2'];

const cases: Array<{ fixture: string; expectFailure: boolean }> = [
  { fixture: 'passing', expectFailure: false },
  { fixture: 'failing-test', expectFailure: true },
  { fixture: 'postgres', expectFailure: true },
  { fixture: 'suite-error', expectFailure: true },
  { fixture: 'unhandled-rejection', expectFailure: true },
  { fixture: 'global-setup-throws', expectFailure: true },
  { fixture: 'global-teardown-throws', expectFailure: true },
];

let wrong = 0;
for (const [index, { fixture, expectFailure }] of cases.entries()) {
  // The first failing case goes through the whole README command (typecheck included); the rest through its vitest step.
  const command = index <= 1 ? [...pnpm, 'test'] : [...pnpm, 'exec', 'vitest', 'run'];
  const started = Date.now();
  const run = spawnSync('npx', command, {
    cwd: root,
    env: { ...process.env, AUDIT_TRAIL_EXIT_FIXTURE: fixture },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const failed = run.status !== 0;
  const ok = failed === expectFailure;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`${ok ? 'ok  ' : 'WRONG'} ${fixture}: \`npx ${command.join(' ')}\` exited ${run.status ?? run.signal} (${seconds} s)\n`);
  if (!ok) {
    wrong++;
    process.stdout.write(`${run.stdout.slice(-4000)}\n${run.stderr.slice(-4000)}\n`);
  }
}
if (wrong > 0) {
  process.stdout.write(`${wrong} of ${cases.length} runs exited with the wrong code: the test command cannot be trusted\n`);
  process.exit(1);
}
process.stdout.write(`all ${cases.length} runs exited as they should: a failing test fails the test command\n`);
