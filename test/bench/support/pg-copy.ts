import type { AuditRecord } from '@audit-trail/core';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';

/** The columns a raw COPY writes: the audit table's, without the chain. */
const COLUMNS = 'id, account_id, created, action_type, resource, resource_id, user_id, user_email, app_id, outcome, status_code, request, trace_id, span_id, details, changes';
/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
const PG_EPOCH_US = 946_684_800_000_000n;
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * A baseline for the PostgreSQL writer: the same rows sent with binary
 * `COPY … FROM STDIN` on one connection, no chain, no conflict handling: the
 * least the server can be asked to do for them.
 */
export function rawCopyWriter(url: string, qualifiedTable: string) {
  const client = new pg.Client({ connectionString: url });
  const connected = client.connect();
  return {
    async append(records: readonly AuditRecord[]): Promise<void> {
      await connected;
      const stream = client.query(copyFrom(`COPY ${qualifiedTable} (${COLUMNS}) FROM STDIN (FORMAT binary)`));
      await pipeline(Readable.from([encode(records)]), stream);
    },
    close: () => client.end(),
  };
}

/** The rows in PostgreSQL's binary COPY format. */
export function encode(records: readonly AuditRecord[]): Buffer {
  const parts: Buffer[] = [SIGNATURE, Buffer.alloc(8)];
  const text = (value: string | null) => {
    if (value === null) return parts.push(int32(-1));
    const bytes = Buffer.from(value, 'utf8');
    parts.push(int32(bytes.length), bytes);
  };
  const jsonb = (value: unknown) => {
    if (value === null || value === undefined) return parts.push(int32(-1));
    const bytes = Buffer.from(`\x01${JSON.stringify(value)}`, 'utf8');
    parts.push(int32(bytes.length), bytes);
  };
  for (const r of records) {
    const row = Buffer.alloc(2);
    row.writeInt16BE(16);
    parts.push(row);
    text(r.id);
    text(r.account_id);
    const created = Buffer.alloc(12);
    created.writeInt32BE(8);
    created.writeBigInt64BE(BigInt(Date.parse(r.created)) * 1000n - PG_EPOCH_US, 4);
    parts.push(created);
    text(r.action_type);
    text(r.resource);
    text(r.resource_id);
    text(r.user.id);
    text(r.user.email);
    text(r.app_id);
    text(r.outcome);
    if (r.status_code === null) parts.push(int32(-1));
    else parts.push(int32(4), int32(r.status_code));
    jsonb(r.request);
    text(r.trace?.trace_id ?? null);
    text(r.trace?.span_id ?? null);
    jsonb(r.details);
    jsonb(r.changes);
  }
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1);
  parts.push(trailer);
  return Buffer.concat(parts);
}

function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(value);
  return b;
}
