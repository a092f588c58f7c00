#!/usr/bin/env node
// Packs every package in packages/* as it would be published (`pnpm pack`: workspace ranges
// become versions, publishConfig.exports replaces the workspace's source exports) into one
// directory, default `.release/`. Prints one tarball path a line. Run `pnpm build` first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const destination = resolve(process.argv[2] ?? join(root, '.release'));
mkdirSync(destination, { recursive: true });

for (const name of readdirSync(join(root, 'packages'))) {
  const dir = join(root, 'packages', name);
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest) || JSON.parse(readFileSync(manifest, 'utf8')).private) continue;
  if (!existsSync(join(dir, 'dist'))) throw new Error(`${name} has no dist/: run pnpm build first`);
  const out = execFileSync('npx', ['-y', 'pnpm@12.4.2', 'pack', '--json', '--pack-destination', destination], { cwd: dir, encoding: 'utf8' });
  console.log(JSON.parse(out.slice(out.indexOf('{'))).filename);
}
