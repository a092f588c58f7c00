/**
 * Runs one embedded PostgreSQL for a parent process (see
 * `postgres-process.ts`): starts it with the options in argv[2], writes one
 * JSON line to stdout (`{"url"}` or `{"error"}`), and stops the server and
 * exits once stdin closes (the parent asked, or the parent died). Lines on
 * stdin `halt` and `resume` shut the server down and start it again.
 */
import { createInterface } from 'node:readline';
import { startEmbeddedPostgres, type EmbeddedPostgresOptions } from './embedded-postgres.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as EmbeddedPostgresOptions;

try {
  const server = await startEmbeddedPostgres(options);
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  process.stdin.resume();
  // One command a line: `halt` or `resume` (see RunningServer); each answered with one JSON line.
  createInterface({ input: process.stdin }).on('line', (command) => {
    const run = command === 'halt' ? server.halt : command === 'resume' ? server.resume : undefined;
    if (!run) return;
    run().then(
      () => process.stdout.write(`${JSON.stringify({ done: command })}\n`),
      (error: unknown) => process.stdout.write(`${JSON.stringify({ failed: command, error: String(error) })}\n`),
    );
  });
  process.stdin.once('close', () => {
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`stopping embedded PostgreSQL failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  });
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`);
  process.exit(1);
}
