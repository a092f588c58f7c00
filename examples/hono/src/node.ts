import type { Server } from 'node:http';
import { serve } from '@hono/node-server';

/**
 * Serves a Hono app on Node with `@hono/node-server`, like Express's
 * `app.listen(port, hostname)`: returns the HTTP server at once; it emits
 * `listening` when ready.
 */
export function serveNode(app: { fetch: (request: Request, env?: unknown) => Response | Promise<Response> }, port: number, hostname?: string): Server {
  return serve({ fetch: app.fetch, port, ...(hostname ? { hostname } : {}) }) as Server;
}
