import { run } from './cli.ts';

// `pnpm audit-trail <command> …` runs this file with tsx; installed, bin/audit-trail.mjs does.
process.exitCode = await run(process.argv.slice(2));
