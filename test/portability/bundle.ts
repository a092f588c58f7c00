import { builtinModules } from 'node:module';
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

export const FIXTURE = fileURLToPath(new URL('./fixture.ts', import.meta.url));
export const DRIVER = fileURLToPath(new URL('./drive.ts', import.meta.url));

/**
 * Bundles entry points into `outdir` as runtime-neutral ESM: no Node
 * built-ins, no platform shims, every dependency inlined.
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
    plugins: [noNodeBuiltins],
    logLevel: 'silent',
    metafile: true,
  });
}
