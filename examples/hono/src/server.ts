import { runExample } from '@audit-trail/example-shared';
import { createApp } from './app.ts';
import { serveNode } from './node.ts';

await runExample('Hono', (auditor, port, cursorSecret) => serveNode(createApp({ auditor, ...(cursorSecret ? { cursorSecret } : {}) }), port));
