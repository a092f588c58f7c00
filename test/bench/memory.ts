import type { MemoryReply } from './server/protocol.ts';
import { startServer, type ServerChild } from './support/children.ts';
import { load } from './support/load.ts';
import { mib, ms, num, table } from './support/markdown.ts';
import type { ScenarioResult } from './support/targets.ts';

export interface MemoryOptions {
  quick: boolean;
  dir: string;
  log: (line: string) => void;
}

/** The auditor's queue bound in this scenario: core's default, stated explicitly. */
const QUEUE_BOUND = 10_000;
const CONNECTIONS = 100;

/**
 * Scenario 4: the RSS of an Express + audit-trail (SQLite) server under
 * sustained load, then under the same load while the store is stalled (its
 * `append` does not resolve until the stall ends), then after the queue has
 * drained. The memory a queued record holds is measured too: the heap with
 * the queue full (stalled, load stopped, after GC) minus the heap once it has
 * drained (after GC), per queued record. The bound allows RSS to grow by
 * about `maxQueueSize` × that.
 */
export async function benchMemory(options: MemoryOptions): Promise<ScenarioResult> {
  const plan = options.quick ? { warmup: 1, sustained: 3, stall: 5, ramp: 0.5 } : { warmup: 5, sustained: 30, stall: 60, ramp: 1 };
  let server: ServerChild | undefined;
  try {
    server = await startServer({ contender: 'express:audit-sqlite', dir: options.dir, maxQueueSize: QUEUE_BOUND });
    const running = server;
    const sampled = (samples: MemoryReply[]) => () => {
      void running.request('memory', 5_000).then(
        (m) => samples.push(m),
        () => undefined,
      );
    };

    options.log('memory: warm-up');
    await load({ url: server.url, connections: CONNECTIONS, seconds: plan.warmup });
    const startCount = await server.request('count');
    const before = await server.request('memory-after-gc');

    options.log(`memory: ${plan.sustained} s of sustained load`);
    const sustainedSamples: MemoryReply[] = [];
    const sustained = await load({
      url: server.url,
      connections: CONNECTIONS,
      seconds: plan.sustained,
      rampSeconds: plan.ramp,
      onSample: sampled(sustainedSamples),
    });

    options.log(`memory: ${plan.stall} s of load with the store stalled`);
    await server.request('stall');
    const stallStarted = performance.now();
    const stallSamples: (MemoryReply & { at: number })[] = [];
    const stalled = await load({
      url: server.url,
      connections: CONNECTIONS,
      seconds: plan.stall,
      rampSeconds: plan.ramp,
      onSample: () => {
        void running.request('memory', 5_000).then(
          (m) => stallSamples.push({ ...m, at: (performance.now() - stallStarted) / 1000 }),
          () => undefined,
        );
      },
    });
    const full = await server.request('memory-after-gc');

    options.log('memory: store resumed, draining');
    await server.request('resume');
    const endCount = await server.request('count');
    const after = await server.request('memory-after-gc');

    const peak = (samples: MemoryReply[]) => Math.max(...samples.map((s) => s.rss));
    const sustainedPeak = peak(sustainedSamples);
    const stallPeak = peak(stallSamples);
    const firstHalf = stallSamples.filter((s) => s.at < plan.stall / 2);
    const secondHalf = stallSamples.filter((s) => s.at >= plan.stall / 2);
    const bytesPerRecord = full.queued > 0 ? (full.heapUsed - after.heapUsed) / full.queued : Number.NaN;
    const allowance = QUEUE_BOUND * bytesPerRecord;
    const growth = stallPeak - sustainedPeak;
    const met = growth <= allowance;

    const stored = (endCount.records ?? 0) - (startCount.records ?? 0);
    const answered = sustained.ok + stalled.ok;
    const dropped = after.dropped - before.dropped;

    const markdown = [
      '## Memory',
      '',
      `One \`express:audit-sqlite\` server (auditor: maxQueueSize ${num(QUEUE_BOUND)}, batchSize 100), ${CONNECTIONS} connections: ` +
        `${plan.warmup} s warm-up, ${plan.sustained} s of sustained load, then ${plan.stall} s of the same load with the store stalled ` +
        '(a wrapper whose `append` does not resolve until the stall ends), then the stall ends and the queue drains. ' +
        'RSS sampled every 250 ms; "after GC" values follow two full collections.',
      '',
      table(
        ['phase', 'RSS MiB', 'heap used MiB', 'queued', 'req/s', 'p99 ms'],
        [
          ['before load (after warm-up, after GC)', mib(before.rss), mib(before.heapUsed), num(before.queued), '', ''],
          [`sustained load, peak (${plan.sustained} s)`, mib(sustainedPeak), mib(Math.max(...sustainedSamples.map((s) => s.heapUsed))), num(Math.max(...sustainedSamples.map((s) => s.queued))), num(sustained.rps), ms(sustained.p99)],
          [`stalled store under load, peak (${plan.stall} s)`, mib(stallPeak), mib(Math.max(...stallSamples.map((s) => s.heapUsed))), num(Math.max(...stallSamples.map((s) => s.queued))), num(stalled.rps), ms(stalled.p99)],
          ['  first half of the stall, peak', mib(peak(firstHalf)), '', '', '', ''],
          ['  second half of the stall, peak', mib(peak(secondHalf)), '', '', '', ''],
          ['stalled, load stopped, after GC', mib(full.rss), mib(full.heapUsed), num(full.queued), '', ''],
          ['after the stall, queue drained, after GC', mib(after.rss), mib(after.heapUsed), num(after.queued), '', ''],
        ],
        ['l', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
      `- Heap per queued record (measured): ${num(bytesPerRecord)} bytes, so the bound of ${num(QUEUE_BOUND)} allows about ${mib(allowance)} MiB.`,
      `- RSS growth while stalled (stall peak − sustained-load peak): ${mib(growth)} MiB; ${met ? 'within' : '**beyond**'} what the bound allows.`,
      `- Requests answered during the sustained and stalled phases: ${num(answered)}; records stored: ${num(stored)}; ` +
        `dropped because the queue was full (reported through onError as \`queue_full\`, once per second with the count): ${num(dropped)}; ` +
        `stored + dropped ${stored + dropped >= answered ? '≥' : '**<**'} answered.`,
      `- Auditor errors by code: ${JSON.stringify(after.errors)}.`,
    ].join('\n');
    return {
      markdown,
      targets: [
        {
          target: `With the store stalled for ${plan.stall} s under load, RSS grows no more than the queue bound (${num(QUEUE_BOUND)}) allows`,
          measured:
            `+${mib(growth)} MiB vs ≈ ${mib(allowance)} MiB allowed (${num(bytesPerRecord)} B per queued record); ` +
            `second half of the stall ${peak(secondHalf) <= peak(firstHalf) ? 'no higher than the first (bounded)' : `**${mib(peak(secondHalf) - peak(firstHalf))} MiB higher than the first**`}`,
          met,
        },
      ],
    };
  } finally {
    await server?.stop();
  }
}

