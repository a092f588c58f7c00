/**
 * A contender's server, run in a child process by the bench (see
 * `support/children.ts`): it listens on 127.0.0.1, tells the parent its port,
 * and answers the parent's requests over IPC.
 */
import { readFileSync } from 'node:fs';
import { findSourceMap } from 'node:module';
import { Session } from 'node:inspector/promises';
import { startContender, type Contender } from './contenders.ts';
import type { CpuProfile, MemoryReply, ServerConfig, ServerReply, ServerRequest } from './protocol.ts';

const config = JSON.parse(process.env.BENCH_SERVER ?? '{}') as ServerConfig;

// The parent is gone (finished, or killed): nothing left to serve.
process.on('disconnect', () => process.exit(0));

let contender: Contender;
try {
  contender = await startContender(config);
} catch (error) {
  process.send!({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}

const address = contender.server.address();
process.send!({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });

const memory = (): MemoryReply => {
  const usage = process.memoryUsage();
  const stats = contender.audit?.auditor.stats() ?? { queued: 0, written: 0, dropped: 0, failed: 0 };
  return {
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    ...stats,
    // Records in a spool (AUDIT_BENCH_PG_STORE_WRAPPER) wait too: drained means both are empty.
    queued: stats.queued + ('spool' in stats && stats.spool ? stats.spool.records : 0),
    errors: { ...contender.audit?.errors },
  };
};

/** Linux's clock ticks per second for `/proc` CPU times (`getconf CLK_TCK`; 100 on every Linux Node runs on). */
const CLOCK_TICKS = 100;

/**
 * CPU time of the main thread alone (user + system), µs: on Linux the main
 * thread's task id is the process id. `process.cpuUsage()` counts every
 * thread (a store's worker thread, libuv's pool); this is the event loop's
 * share. `null` where `/proc` is not there.
 */
function mainThreadCpuMicros(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, inside parentheses): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

let profiler: Session | null = null;

/** Frames of transpiled TypeScript (tsx inlines source maps) mapped back to their file, line and name. */
function mapToSources(profile: CpuProfile): CpuProfile {
  for (const node of profile.nodes) {
    const frame = node.callFrame;
    if (!frame.url.startsWith('file://')) continue;
    const map = findSourceMap(frame.url);
    const entry = map?.findEntry(frame.lineNumber, frame.columnNumber) as
      | { originalSource?: string; originalLine?: number; originalColumn?: number; name?: string }
      | undefined;
    if (!entry?.originalSource) continue;
    frame.url = entry.originalSource.startsWith('file://') ? entry.originalSource : `file://${entry.originalSource}`;
    frame.lineNumber = entry.originalLine ?? frame.lineNumber;
    frame.columnNumber = entry.originalColumn ?? frame.columnNumber;
  }
  return profile;
}

const answer = async (request: ServerRequest): Promise<ServerReply> => {
  switch (request.type) {
    case 'count': {
      const records = contender.audit ? await contender.audit.count() : contender.count ? await contender.count() : null;
      const cpu = process.cpuUsage();
      return {
        type: 'count',
        records,
        errors: { ...contender.audit?.errors },
        cpuMicros: cpu.user + cpu.system,
        mainThreadCpuMicros: mainThreadCpuMicros(),
        appends: contender.audit?.controlled.appends() ?? null,
      };
    }
    case 'cpu': {
      const cpu = process.cpuUsage();
      return { type: 'cpu', cpuMicros: cpu.user + cpu.system, mainThreadCpuMicros: mainThreadCpuMicros() };
    }
    case 'memory':
      return { type: 'memory', ...memory() };
    case 'memory-after-gc':
      // Twice: the first pass may leave garbage that finalizers of the first made collectable.
      globalThis.gc?.();
      globalThis.gc?.();
      return { type: 'memory-after-gc', ...memory() };
    case 'stall':
      contender.audit?.controlled.stall();
      return { type: 'stall' };
    case 'resume':
      contender.audit?.controlled.resume();
      return { type: 'resume' };
    case 'profile-start':
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
      await profiler.post('Profiler.start');
      return { type: 'profile-start' };
    case 'profile-stop': {
      if (!profiler) throw new Error('the profiler was not started');
      const { profile } = (await profiler.post('Profiler.stop')) as { profile: CpuProfile };
      profiler.disconnect();
      profiler = null;
      return { type: 'profile-stop', profile: mapToSources(profile) };
    }
    case 'stop':
      await contender.close();
      return { type: 'stop' };
  }
};

process.on('message', (message: ServerRequest & { id: number }) => {
  answer(message).then(
    (reply) => {
      process.send!({ ...reply, id: message.id }, () => {
        // --cpu-prof writes its profile on a normal exit.
        if (message.type === 'stop') process.exit(0);
      });
    },
    (error: unknown) => process.send!({ type: 'error', id: message.id, message: error instanceof Error ? error.message : String(error) }),
  );
});
