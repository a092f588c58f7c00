import type { ContenderName, CpuProfile } from './server/protocol.ts';
import { startServer } from './support/children.ts';
import { load } from './support/load.ts';
import { dropSchema } from './support/postgres.ts';
import { num, table } from './support/markdown.ts';

export interface ProfileOptions {
  contender: ContenderName;
  dir: string;
  databaseUrl: string | undefined;
  seconds: number;
  log: (line: string) => void;
}

type ProfileNode = CpuProfile['nodes'][number];

/**
 * Runs one contender's server under `node --cpu-prof` with 100 connections of
 * load, and reports where its CPU time went: the top functions by self time,
 * self time by file (package), and the inclusive time of audit-trail's own
 * functions.
 */
export async function profileContender(options: ProfileOptions): Promise<string> {
  const pgSchema = 'audit_bench_profile';
  if (options.databaseUrl) await dropSchema(options.databaseUrl, pgSchema);
  try {
    return await profileServer(options, pgSchema);
  } finally {
    if (options.databaseUrl) await dropSchema(options.databaseUrl, pgSchema).catch(() => undefined);
  }
}

async function profileServer(options: ProfileOptions, pgSchema: string): Promise<string> {
  const server = await startServer(
    {
      contender: options.contender,
      dir: options.dir,
      ...(options.databaseUrl ? { databaseUrl: options.databaseUrl, pgSchema } : {}),
    },
    { nodeFlags: ['--enable-source-maps'] },
  );
  let result;
  let profile: CpuProfile;
  let cpu: { process: number; main: number | null };
  try {
    options.log(`profile: ${options.contender}, ${options.seconds} s at 100 connections`);
    await load({ url: server.url, connections: 100, seconds: 3 });
    const before = await server.request('cpu');
    await server.request('profile-start');
    result = await load({ url: server.url, connections: 100, seconds: options.seconds });
    ({ profile } = await server.request('profile-stop'));
    const after = await server.request('cpu');
    cpu = {
      process: (after.cpuMicros - before.cpuMicros) / result.ok,
      main: before.mainThreadCpuMicros === null || after.mainThreadCpuMicros === null ? null : (after.mainThreadCpuMicros - before.mainThreadCpuMicros) / result.ok,
    };
    await server.request('count');
  } finally {
    await server.stop();
  }
  return [
    `# CPU profile of \`${options.contender}\``,
    '',
    `The server process, sampled every 0.2 ms during ${options.seconds} s at 100 connections (after a 3 s warm-up): ${num(result.rps)} req/s. ` +
      'Frames of TypeScript sources are mapped back through their source maps. ' +
      `CPU time per request over the same window, from the OS: ${cpu.process.toFixed(1)} µs for the process` +
      (cpu.main === null ? '.' : `, ${cpu.main.toFixed(1)} µs for its main thread (the event loop).`) +
      (cpu.main === null
        ? ''
        : ' The sampler counts wall time, which a busy machine stretches (the thread waits for a core while sampled as running): ' +
          'the "µs per request" columns below are each row\'s share of the non-idle samples times the main thread\'s CPU per request.'),
    '',
    summariseProfile(profile, result.ok, cpu.main ?? undefined),
  ].join('\n');
}

/** Where a frame's code lives: a package, audit-trail's own file, or Node's internals. */
function placeOf(url: string): string {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return 'node: internals';
  const path = url.replace(/^file:\/\//, '');
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pnpm) return pnpm[1]!;
  const audit = /\/(packages|test|examples)\/(.+)$/.exec(path);
  if (audit) return `${audit[1]}/${audit[2]}`;
  return path;
}

/** Where the time went; with `requests`, also as µs per request. */
export function summariseProfile(profile: CpuProfile, requests?: number, mainCpuPerRequest?: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const idle = [...self].filter(([id]) => ['(idle)', '(program)', '(garbage collector)'].includes(byId.get(id)!.callFrame.functionName));
  const label = (n: ProfileNode) =>
    `${n.callFrame.functionName || '(anonymous)'} ${placeOf(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;

  const selfByFunction = new Map<string, number>();
  const selfByPlace = new Map<string, number>();
  for (const [id, time] of self) {
    const node = byId.get(id)!;
    selfByFunction.set(label(node), (selfByFunction.get(label(node)) ?? 0) + time);
    const place = ['(idle)', '(program)', '(garbage collector)'].includes(node.callFrame.functionName)
      ? node.callFrame.functionName
      : placeOf(node.callFrame.url);
    selfByPlace.set(place, (selfByPlace.get(place) ?? 0) + time);
  }

  // Inclusive time of audit-trail's own functions (packages/*), each counted once per stack.
  const inclusive = new Map<string, number>();
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  for (const [id, time] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const node = byId.get(at)!;
      if (!node.callFrame.url.includes('/packages/')) continue;
      const key = label(node);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + time);
    }
  }

  const busy = total - idle.reduce((n, [, t]) => n + t, 0);
  // What the thread spent off the event loop's wait: garbage collection and native work included.
  const running = total - idle.filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((n, [, t]) => n + t, 0);
  const share = (t: number) => `${((t / total) * 100).toFixed(1)}%`;
  // Sample times are in µs; with the thread's CPU time known, a share of the busy samples is a share of that.
  const perRequest = (t: number) =>
    !requests ? '' : mainCpuPerRequest !== undefined && running > 0 ? ((t / running) * mainCpuPerRequest).toFixed(1) : (t / requests).toFixed(1);
  const header = (first: string, time: string) => [first, time, 'share', ...(requests ? ['µs per request'] : [])];
  const row = (k: string, t: number) => [k, num(t / 1000), share(t), ...(requests ? [perRequest(t)] : [])];
  const align = ['l', 'r', 'r', 'r'] as const;
  const top = <K>(map: Map<K, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n);
  return [
    `Sampled ${(total / 1e6).toFixed(1)} s, of which ${(busy / 1e6).toFixed(1)} s not idle` +
      (requests ? `: ${perRequest(busy)} µs of CPU per request (${num(requests)} requests), garbage collection and \`(program)\` not included.` : '.'),
    '',
    '### Self time by function (top 30)',
    '',
    table(header('function', 'self ms'), top(selfByFunction, 30).map(([k, t]) => row(k, t)), align),
    '',
    '### Self time by package or file (top 25)',
    '',
    table(header('where', 'self ms'), top(selfByPlace, 25).map(([k, t]) => row(k, t)), align),
    '',
    "### Inclusive time of audit-trail's functions (top 30; a middleware's includes everything after its `next()`)",
    '',
    table(header('function', 'total ms'), top(inclusive, 30).map(([k, t]) => row(k, t)), align),
  ].join('\n');
}
