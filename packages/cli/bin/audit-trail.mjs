#!/usr/bin/env node
// The installed `audit-trail` command: runs the CLI's built JavaScript (dist/).
// In the repository, `pnpm audit-trail …` runs the sources instead.
import { run } from '../dist/cli.js';

process.exitCode = await run(process.argv.slice(2));
