#!/usr/bin/env node
// `pnpm build`: every package in packages/* that has a tsconfig.build.json is compiled by tsc
// (project references, so each package sees its siblings' .d.ts, never their sources) into
// dist/: ES2022 modules, .d.ts and declaration maps. Files in src/ that are not TypeScript
// (a viewer's HTML, CSS, images …) are copied to the same place in dist/, so that a package
// reads them next to its modules (`new URL('./viewer/index.html', import.meta.url)`).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const packages = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .filter((dir) => existsSync(join(dir, 'tsconfig.build.json')));

// `--clean` (what `pnpm build` and a release run): no file of a renamed or deleted module
// survives in dist/. Without it the build is incremental: the test suite's global setup runs
// it before every run, and it takes a second or two when nothing changed.
if (process.argv.includes('--clean')) {
  for (const dir of packages) rmSync(join(dir, 'dist'), { recursive: true, force: true });
}

const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '--build', ...packages.map((dir) => join(dir, 'tsconfig.build.json'))], { stdio: 'inherit', cwd: root });

// tsc rewrites `./x.ts` to `./x.js` in JavaScript but keeps `.ts` in declarations, which a
// user's compiler (without allowImportingTsExtensions) rejects. Same length, so maps stay true.
const relativeTs = /((?:from|import)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]*?)\.ts\2/g;
for (const dir of packages) {
  for (const file of readdirSync(join(dir, 'dist'), { recursive: true })) {
    if (!file.endsWith('.d.ts')) continue;
    const path = join(dir, 'dist', file);
    const text = readFileSync(path, 'utf8');
    const fixed = text.replace(relativeTs, '$1$2$3.js$2');
    if (fixed !== text) writeFileSync(path, fixed);
  }
}

const isAsset = (path) => statSync(path).isDirectory() || !/\.[cm]?tsx?$/.test(path);
for (const dir of packages) cpSync(join(dir, 'src'), join(dir, 'dist'), { recursive: true, filter: isAsset });

console.log(`built ${packages.length} packages: ${packages.map((dir) => dir.slice(root.length + 1)).join(', ')}`);
