import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EmbeddedPostgresOptions, RunningServer } from './embedded-postgres.ts';

const SERVER_SCRIPT = fileURLToPath(new URL('./postgres-server.ts', import.meta.url));
const START_TIMEOUT_MS = 120_000;

/**
 * Starts an embedded PostgreSQL in a child process of its own and resolves
 * with its URL.
 *
 * `embedded-postgres` installs an exit hook (`async-exit-hook`) that calls
 * `process.exit(0)` as Node is about to exit; in the test runner's process that
 * would replace the exit code a failed run has set. So the library is only
 * ever loaded in this child: the test runner's exit code is its own.
 * The child stops the server when told (`stop()`) or when this process goes
 * away (its stdin closes).
 */
export function startPostgresProcess(options: EmbeddedPostgresOptions): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER_SCRIPT, JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise<RunningServer>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`embedded PostgreSQL did not start within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    const lines = createInterface({ input: child.stdout });
    const onLine = (line: string) => {
      let message: { url?: string; error?: string };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        return; // Not the server's answer (a warning a loader printed, say).
      }
      lines.off('line', onLine);
      clearTimeout(timer);
      if (!message.url) return reject(new Error(message.error ?? 'embedded PostgreSQL did not start'));
      /** Sends `halt` or `resume` and waits for its answer line. */
      const command = (name: 'halt' | 'resume') =>
        new Promise<void>((done, fail) => {
          const onAnswer = (line: string) => {
            let answer: { done?: string; failed?: string; error?: string };
            try {
              answer = JSON.parse(line) as typeof answer;
            } catch {
              return;
            }
            if (answer.done !== name && answer.failed !== name) return;
            lines.off('line', onAnswer);
            if (answer.done) done();
            else fail(new Error(`${name} failed: ${answer.error}`));
          };
          lines.on('line', onAnswer);
          child.stdin.write(`${name}\n`);
        });
      resolve({
        url: message.url,
        halt: () => command('halt'),
        resume: () => command('resume'),
        async stop() {
          child.stdin.end();
          const code = await exited;
          if (code !== 0) throw new Error(`the embedded PostgreSQL process exited with ${code} while stopping`);
        },
      });
    };
    lines.on('line', onLine);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the embedded PostgreSQL process exited with ${code} before it started`));
    });
  });
}
