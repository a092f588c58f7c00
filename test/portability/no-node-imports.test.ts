import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bundleNeutral, DRIVER, FIXTURE, isNodeBuiltin } from './bundle.ts';

// Core and the Hono adapter must run on any runtime (STYLE: Web standards only,
// no `node:` imports, no async_hooks). This reads their source, so a Node import
// fails the build even before anything bundles it.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PORTABLE_SOURCES = ['packages/core/src', 'packages/hono/src'];

/** Every module specifier in TypeScript source: static and dynamic imports, re-exports, `require`. */
export function moduleSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[\w*{}\s,$]*?\s*from\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
    /\brequire\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
    /\bimport\s+\w+\s*=\s*require\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  const found = new Set<string>();
  for (const pattern of patterns) for (const match of code.matchAll(pattern)) found.add(match[1]!);
  return [...found];
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.(m|c)?[jt]sx?$/.test(e.name) && !/\.test\.[jt]sx?$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

describe('portable packages import no Node built-ins', () => {
  it('finds every kind of specifier, and recognises Node built-ins by any name', () => {
    const sample = [
      "import { a } from 'node:fs';",
      "import type { B } from \"path\";",
      "export { c } from 'crypto';",
      "export * from './local.ts';",
      "import 'http';",
      "const d = await import('async_hooks');",
      "const e = require('fs/promises');",
      "import f = require('os');",
      '// import { g } from "not-really";',
      "/* import h from 'nor-this' */",
      "import {\n  i,\n  type J,\n} from 'zod';",
    ].join('\n');
    expect(moduleSpecifiers(sample).sort()).toEqual(
      ['./local.ts', 'async_hooks', 'crypto', 'fs/promises', 'http', 'node:fs', 'os', 'path', 'zod'].sort(),
    );
    for (const name of ['node:fs', 'fs', 'fs/promises', 'path', 'crypto', 'http', 'async_hooks', 'node:async_hooks', 'stream/web', 'os']) {
      expect(isNodeBuiltin(name), name).toBe(true);
    }
    for (const name of ['zod', 'hono', 'hono/route', '@audit-trail/core', './http.ts', 'fsevents', 'pathe']) {
      expect(isNodeBuiltin(name), name).toBe(false);
    }
  });

  it.each(PORTABLE_SOURCES)('%s imports nothing from Node', async (dir) => {
    const files = await sourceFiles(join(ROOT, dir));
    expect(files.length).toBeGreaterThan(0);
    const offending: string[] = [];
    const seen = new Set<string>();
    for (const file of files) {
      for (const specifier of moduleSpecifiers(await readFile(file, 'utf8'))) {
        seen.add(specifier);
        if (isNodeBuiltin(specifier)) offending.push(`${relative(ROOT, file)}: ${specifier}`);
      }
    }
    // The scan does see the packages' real imports.
    expect(seen.size).toBeGreaterThan(0);
    expect(offending).toEqual([]);
  });

  it('bundles core + hono + the fixture with no Node built-ins at all', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'audit-trail-bundle-'));
    try {
      const result = await bundleNeutral({ fixture: FIXTURE, drive: DRIVER }, dir);
      const inputs = Object.keys(result.metafile.inputs);
      // The packages as published: their built JavaScript, none of their TypeScript sources.
      expect(inputs.some((p) => p.includes('packages/core/dist/'))).toBe(true);
      expect(inputs.some((p) => p.includes('packages/hono/dist/'))).toBe(true);
      expect(inputs.filter((p) => /packages\/[^/]+\/src\//.test(p))).toEqual([]);
      expect(inputs.filter((p) => isNodeBuiltin(p))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails the bundle when anything pulls in a Node built-in', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'audit-trail-bundle-'));
    try {
      for (const specifier of ['node:async_hooks', 'fs', 'crypto']) {
        const entry = join(dir, 'entry.ts');
        await writeFile(entry, `import * as m from '${specifier}';\nexport default m;\n`);
        await expect(bundleNeutral({ entry }, join(dir, 'out')), specifier).rejects.toThrow(/Node built-in/);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
