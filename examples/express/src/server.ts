import { runExample } from '@audit-trail/example-shared';
import { createApp } from './app.ts';

await runExample('Express', (auditor, port, cursorSecret) => createApp({ auditor, ...(cursorSecret ? { cursorSecret } : {}) }).listen(port));
