import autocannon from 'autocannon';
import { AUTHORIZATION, REQUEST_PATH } from '../server/protocol.ts';
import { percentileOfSorted, Samples } from './stats.ts';

/** One load run against one server. */
export interface LoadResult {
  /** 2xx responses per second, over the measured part of the run (completed after `rampSeconds`). */
  rps: number;
  /** Latency of 2xx responses to requests sent after `rampSeconds`, in ms, from every response (not autocannon's whole-millisecond histogram). */
  p50: number;
  p99: number;
  /** 2xx responses the client counted over the whole run. */
  ok: number;
  /** Requests the client sent over the whole run (some may be cut off at its end). */
  sent: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  /**
   * Requests sent in this first part of the run are not measured: autocannon
   * opens its connections at the start of every run, and on this machine a
   * few of them have their SYN retransmitted, which makes their first request
   * take a second and would otherwise dominate p99. Default 0.
   */
  rampSeconds?: number;
  /** Called about every `sampleMs` while the load runs (the memory scenario samples RSS). */
  onSample?: () => void;
  sampleMs?: number;
}

/**
 * Authenticated POSTs to the benchmarked route with autocannon, in this
 * process (the server runs in a child of its own). Latencies are taken from
 * every response at sub-millisecond resolution.
 */
export async function load({ url, connections, seconds, rampSeconds = 0, onSample, sampleMs = 250 }: LoadOptions): Promise<LoadResult> {
  const latencies = new Samples();
  const sampler = onSample ? setInterval(onSample, sampleMs) : null;
  const started = performance.now();
  const measureFrom = started + rampSeconds * 1000;
  let result: autocannon.Result;
  let ended: number;
  let completed = 0;
  try {
    result = await new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon(
        {
          url: `${url}${REQUEST_PATH}`,
          method: 'POST',
          headers: { authorization: AUTHORIZATION },
          connections,
          pipelining: 1,
          duration: seconds,
          timeout: 10,
        },
        (error: unknown, done: autocannon.Result) => (error ? reject(error) : resolve(done)),
      );
      instance.on('response', (_client, statusCode, _bytes, responseTime) => {
        if (statusCode < 200 || statusCode >= 300) return;
        const now = performance.now();
        if (now < measureFrom) return;
        completed++;
        // Only requests sent after the ramp: a connection whose SYN was retransmitted answers its first request a second late.
        if (now - responseTime >= measureFrom) latencies.push(responseTime);
      });
    });
    ended = performance.now();
  } finally {
    if (sampler) clearInterval(sampler);
  }
  const sorted = latencies.sorted();
  return {
    rps: (completed / (ended - measureFrom)) * 1000,
    p50: percentileOfSorted(sorted, 50),
    p99: percentileOfSorted(sorted, 99),
    ok: result['2xx'],
    sent: result.requests.sent,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}
