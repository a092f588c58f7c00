/**
 * Drives the portability fixture through any `fetch`-like function and
 * returns what it saw as plain JSON. Runtime-neutral: bundled next to the
 * fixture and run as is in every runtime (or in Node against workerd).
 */

export const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

export interface Answer {
  status: number;
  body: any;
}

export interface Driven {
  refund: Answer;
  /** `/stats` once the refund's record was written (or after giving up). */
  stats: { runtime: string; queued: number; written: number; dropped: number; failed: number; errors: string[] };
  /** How long the write took to land after the refund was answered, in ms. */
  landedAfterMs: number;
  list: Answer;
  one: Answer;
  anonymous: Answer;
  refused: Answer;
}

const BASE = 'http://fixture.test';

export async function drive(fetcher: (request: Request) => Promise<Response>): Promise<Driven> {
  const call = async (path: string, init: RequestInit = {}): Promise<Answer> => {
    const response = await fetcher(new Request(`${BASE}${path}`, init));
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
  const as = (user: string) => ({ headers: { 'x-user': user } });

  const refund = await call('/payments/pay_42/refunds', {
    method: 'POST',
    headers: { 'x-user': 'alice', 'app-id': 'app_eu', traceparent: TRACEPARENT, 'content-type': 'application/json' },
    body: JSON.stringify({ amount: 100 }),
  });
  // Wait for the write without an audited request in between: an audit read would flush the queue itself.
  const answered = Date.now();
  let stats = (await call('/stats')).body;
  for (let i = 0; i < 100 && stats.written < 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    stats = (await call('/stats')).body;
  }
  const landedAfterMs = Date.now() - answered;
  const list = await call('/audit?action_type=refund', as('alice'));
  const id = list.body?.data?.[0]?.id ?? 'aud_none';
  const one = await call(`/audit/${id}`, as('alice'));
  const anonymous = await call('/audit');
  const refused = await call('/audit', as('bob'));
  return { refund, stats, landedAfterMs, list, one, anonymous, refused };
}
