import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

/** Node's built-in modules by bare name, with and without `node:`, plus their subpaths (`fs/promises`). */
const BUILTINS = new Set(builtinModules.flatMap((name) => [name, name.replace(/^node:/, '')]));

/** True for a specifier that names a Node built-in: `node:…`, `fs`, `fs/promises`, `async_hooks`, … */
export function isNodeBuiltin(specifier: string): boolean {
  if (specifier.startsWith('node:')) return true;
  return BUILTINS.has(specifier) || BUILTINS.has(specifier.split('/')[0]!);
}

/** Fails the build on any Node built-in, whoever imports it (our code or a dependency). */
export const noNodeBuiltins: Plugin = {
  name: 'no-node-builtins',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) =>
      isNodeBuiltin(args.path)
        ? { errors: [{ text: `"${args.path}" is a Node built-in (imported by ${args.importer || 'the entry'}); the bundle must run on any runtime` }] }
        : undefined,
    );
  },
};

const PACKAGES = fileURLToPath(new URL('../../packages/', import.meta.url));

/**
 * Resolves `@audit-trail/<name>[/<subpath>]` as an installed copy would: through the
 * package's published exports (`publishConfig.exports`, the built `dist/`), not the
 * workspace's source exports. The suite's global setup builds dist/ first.
 */
export const publishedPackages: Plugin = {
  name: 'published-packages',
  setup(b) {
    b.onResolve({ filter: /^@audit-trail\// }, (args) => {
      const [, name, ...rest] = args.path.split('/');
      const dir = join(PACKAGES, name!);
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      const entry = manifest.publishConfig?.exports?.[rest.length ? `./${rest.join('/')}` : '.'];
      if (!entry?.default) return { errors: [{ text: `${args.path} is not a published export` }] };
      return { path: join(dir, entry.default) };
    });
  },
};

export const FIXTURE = fileURLToPath(new URL('./fixture.ts', import.meta.url));
export const DRIVER = fileURLToPath(new URL('./drive.ts', import.meta.url));

/**
 * Bundles entry points into `outdir` as runtime-neutral ESM: no Node
 * built-ins, no platform shims, every dependency inlined, our packages
 * as published (their built JavaScript).
 */
export async function bundleNeutral(entryPoints: Record<string, string>, outdir: string) {
  return build({
    entryPoints,
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    mainFields: ['module', 'main'],
    outExtension: { '.js': '.mjs' },
    plugins: [publishedPackages, noNodeBuiltins],
    logLevel: 'silent',
    metafile: true,
  });
}
