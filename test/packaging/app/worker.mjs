// The Workers module: bundled with esbuild as wrangler would, then run in workerd.
import { memoryStore } from '@audit-trail/core';
import { makeApp } from './hono-app.mjs';
export default makeApp(memoryStore());
