/**
 * The worker thread's entry: it hosts one engine (the store's, or a spool's)
 * and answers the main thread's requests in order, one at a time. SQLite's
 * waits (a lock held by another process, a slow disk, a checkpoint) happen
 * here, never on the main thread's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { RetentionStorage } from '@audit-trail/core/store';
import { openEngine, type Engine, type EngineConfig } from './engine.ts';
import { openSpoolEngine, type SpoolEngine, type SpoolEngineConfig } from './spool-engine.ts';
import { wireError, type WorkerMessage, type WorkerRequest, type WorkerTask } from './worker-client.ts';

/** How often the reader's thread checkpoints the WAL. */
const CHECKPOINT_INTERVAL_MS = 100;

const port = parentPort!;
const task = workerData as WorkerTask;
const send = (message: WorkerMessage): void => port.postMessage(message);

type Handler = (request: WorkerRequest, reply: (value: unknown) => void, fail: (error: unknown) => void) => void;

function storeHandler(engine: Engine, config: EngineConfig): Handler {
  let checkpoints: ReturnType<typeof setInterval> | null = null;
  if (config.role === 'reader') {
    // The reader's thread checkpoints the WAL as the writer fills it, off the writer's path.
    checkpoints = setInterval(() => {
      try {
        engine.checkpoint();
      } catch {
        // A checkpoint that cannot run now runs at the next tick; nothing waits on it.
      }
    }, CHECKPOINT_INTERVAL_MS);
  }
  return ({ op, args }, reply, fail) => {
    try {
      switch (op) {
        case 'append':
          engine.append(args[0] as Parameters<Engine['append']>[0]);
          return reply(null);
        case 'query':
          return reply(engine.query(args[0] as Parameters<Engine['query']>[0]));
        case 'get':
          return reply(engine.get(args[0] as string, args[1] as string));
        case 'stats':
          return reply(engine.stats(args[0] as Parameters<Engine['stats']>[0]));
        case 'retention': {
          // [method, ...arguments] of RetentionStorage; its methods are promises over synchronous work.
          const [method, ...rest] = args as [keyof RetentionStorage, ...unknown[]];
          const retention = engine.retention();
          if (!retention) return fail(new Error('the store keeps no hash chain, so it has no retention'));
          void (retention[method] as (...a: unknown[]) => Promise<unknown>)(...rest).then(reply, fail);
          return;
        }
        case 'scanChain':
          return reply(engine.chain!.scanChain(args[0] as string | null, args[1] as number | null, args[2] as number));
        case 'scanUnchained':
          return reply(engine.chain!.scanUnchained(args[0] as string | null, args[1] as string | null, args[2] as number));
        case 'chainHeads':
          return reply(args.length === 0 ? engine.chain!.chainHeads() : engine.chain!.chainHeads(args[0] as string | null));
        case 'close':
          if (checkpoints) clearInterval(checkpoints);
          engine.close();
          reply(null);
          return port.close();
        default:
          return testOperation(op) ?? fail(new Error(`unknown operation ${op}`));
      }
    } catch (error) {
      fail(error);
    }
  };
}

function spoolHandler(spool: SpoolEngine): Handler {
  return ({ op, args }, reply, fail) => {
    try {
      switch (op) {
        case 'append':
          // Answered when its group commits (or fails).
          return spool.append(args[0] as Parameters<SpoolEngine['append']>[0], reply, fail);
        case 'peek':
          return reply(spool.peek(args[0] as number));
        case 'ack':
          return reply(spool.ack(args[0] as number));
        case 'stats':
          return reply(spool.stats());
        case 'close':
          spool.close();
          reply(null);
          return port.close();
        default:
          return testOperation(op) ?? fail(new Error(`unknown operation ${op}`));
      }
    } catch (error) {
      fail(error);
    }
  };
}

/**
 * Failures on purpose, for the tests of what the main thread does when its
 * thread dies: `test:exit` ends the thread at once, `test:throw` throws
 * outside any request.
 */
function testOperation(op: string): true | undefined {
  if (op === 'test:exit') process.exit(70);
  if (op === 'test:throw') {
    setTimeout(() => {
      throw new Error('the worker thread threw');
    });
    return true;
  }
  return undefined;
}

let handle: Handler | null = null;
try {
  handle = task.kind === 'spool' ? spoolHandler(openSpoolEngine(task.config as SpoolEngineConfig)) : storeHandler(openEngine(task.config as EngineConfig), task.config as EngineConfig);
} catch (error) {
  // The main thread hears why; with the port closed the thread ends.
  send({ type: 'failed', error: wireError(error) });
  port.close();
}
if (handle) {
  const opened = handle;
  port.on('message', (request: WorkerRequest) => {
    opened(
      request,
      (value) => send({ type: 'reply', id: request.id, value }),
      (error) => send({ type: 'error', id: request.id, error: wireError(error) }),
    );
  });
  send({ type: 'ready' });
}
