import { runExample } from '@audit-trail/example-shared';
import { createApp, serveFastify } from './app.ts';

await runExample('Fastify', (auditor, port, cursorSecret) => serveFastify(createApp({ auditor, ...(cursorSecret ? { cursorSecret } : {}) }), port));
