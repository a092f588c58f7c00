#!/usr/bin/env node
// The installed `audit-trail` command. The packages ship TypeScript sources, so
// tsx (a dependency of this package) loads them; then the CLI runs as it does
// from the repository (`pnpm audit-trail …`).
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/cli.ts');
process.exitCode = await run(process.argv.slice(2));
