/**
 * What redaction costs per record: the auditor's one redaction pass
 * (`Redactor.record`) over records as the HTTP adapters make them, with and
 * without secrets in them. Called by `test/bench/run.ts` (scenario `redact`);
 * runs in-process, no server.
 */
import type { AuditRecord } from '@audit-trail/core';
import { createRedactor } from '../../packages/core/src/redact.ts';
import { num, table } from './support/markdown.ts';
import { writeRecords } from './support/records.ts';
import { median } from './support/stats.ts';
import type { ScenarioResult } from './support/targets.ts';

export interface RedactionBenchOptions {
  quick: boolean;
}

/** The same records with a card number, a JWT and a password in the places secrets leak through. */
function withSecrets(records: AuditRecord[]): AuditRecord[] {
  return records.map((record) => ({
    ...record,
    resource_id: '4111 1111 1111 1111',
    request: { ...record.request, user_agent: `${record.request.user_agent} Bearer abc123DEF456`, path: '/payments/4111%201111%201111%201111' },
    details: {
      request_body: {
        ...(record.details.request_body as object),
        card: { number: 4111111111111111, holder: 'A. Customer' },
        note: 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig_sig_sig',
        password: 'hunter22',
      },
    },
  }));
}

/** Microseconds per record of `redact` over `records`, the median of `rounds`. */
function perRecord(records: AuditRecord[], rounds: number, redact: (record: AuditRecord) => unknown): number {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    for (const record of records) redact(record);
    times.push(((performance.now() - started) * 1000) / records.length);
  }
  return median(times);
}

export async function benchRedaction(options: RedactionBenchOptions): Promise<ScenarioResult> {
  const count = options.quick ? 2_000 : 20_000;
  const rounds = options.quick ? 3 : 7;
  const plain = writeRecords(count, 0);
  const secret = withSecrets(plain);
  const redactor = createRedactor();
  const pan = createRedactor({ cards: 'pan' });
  // Warm-up: the regular expressions and the key cache, not counted.
  for (const record of [...plain.slice(0, 500), ...secret.slice(0, 500)]) redactor.record(record);
  const rows = [
    ['records as the adapters make them, no secret', perRecord(plain, rounds, redactor.record)],
    ['the same with a card number, a JWT, a bearer token and a password', perRecord(secret, rounds, redactor.record)],
    ['the same in `pan` mode (first six, last four kept)', perRecord(secret, rounds, pan.record)],
    ['for scale: `structuredClone` of a record', perRecord(plain, rounds, (record) => structuredClone(record))],
  ] as const;
  return {
    markdown: [
      '## Redaction cost',
      '',
      `The auditor's one redaction pass (\`Redactor.record\`: every text field of the record, \`details\`, \`changes\`), in-process, ${num(count)} records, median of ${rounds} rounds.`,
      '',
      table(['records', 'µs per record'], rows.map(([label, us]) => [label, num(us, 2)]), ['l', 'r']),
    ].join('\n'),
    targets: [],
  };
}
