import type { AuditRecord } from './record.ts';

// CSV of audit records (RFC 4180), shared by `GET /audit/export` and the CLI's
// export. Record text is what an app (or an attacker) chose: a cell that a
// spreadsheet would run as a formula must show as text instead.

/** Cells that a spreadsheet would run as a formula (OWASP: CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV cell (RFC 4180): quoted when it holds a quote, comma or line break,
 * quotes doubled; text that a spreadsheet would take for a formula (starting
 * with `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`, so it shows as text.
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The CSV columns of an export: one per record field, `details` and `changes` as JSON text (`changes` empty when null). */
export const CSV_COLUMNS = [
  'id',
  'created',
  'action_type',
  'resource',
  'resource_id',
  'user_id',
  'user_email',
  'account_id',
  'app_id',
  'outcome',
  'status_code',
  'request_method',
  'request_path',
  'request_route',
  'request_ip',
  'request_user_agent',
  'request_id',
  'trace_id',
  'span_id',
  'details',
  'changes',
] as const;

/** The header line of a CSV export, with its CRLF. */
export const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`;

/** One record as a CSV line, with its CRLF. */
export function csvLine(record: AuditRecord): string {
  const cells: Array<string | number | null> = [
    record.id,
    record.created,
    record.action_type,
    record.resource,
    record.resource_id,
    record.user.id,
    record.user.email,
    record.account_id,
    record.app_id,
    record.outcome,
    record.status_code,
    record.request.method,
    record.request.path,
    record.request.route,
    record.request.ip,
    record.request.user_agent,
    record.request.request_id,
    record.trace?.trace_id ?? null,
    record.trace?.span_id ?? null,
    JSON.stringify(record.details),
    record.changes == null ? null : JSON.stringify(record.changes),
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

