import { memoryStore } from '@audit-trail/core';
import { makeApp } from './hono-app.mjs';
export default makeApp(memoryStore());
