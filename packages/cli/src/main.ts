import { run } from './cli.ts';

// `pnpm audit-trail <command> …` runs this file from source; installed, bin/audit-trail.mjs runs dist/cli.js.
process.exitCode = await run(process.argv.slice(2));
