import type { AuditRecord } from '@audit-trail/core';

// Everything the CLI prints of a record is text an app (or an attacker) chose.
// Rendered for a terminal, it must not be able to move the cursor, rewrite
// earlier lines, change the title or hide text, so control characters become
// visible escapes. CSV cells must not become formulas in a spreadsheet.

/**
 * C0 and C1 control characters, DEL, and the Unicode format characters that
 * reorder or hide text (bidi embeddings, overrides and isolates, line and
 * paragraph separators, zero-width characters, the BOM).
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

const hex = (char: string, width: number) => char.charCodeAt(0).toString(16).padStart(width, '0');

/**
 * Text made safe for a terminal: every control or invisible formatting
 * character becomes a visible escape (`\x1b`, `\n`, `\u202e`), everything
 * else stays as it is.
 *
 * @example
 * printable('evil\u001b[2Jname'); // 'evil\\x1b[2Jname'
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (char) => {
    if (char === '\n') return '\\n';
    if (char === '\r') return '\\r';
    if (char === '\t') return '\\t';
    return char.charCodeAt(0) < 0x100 ? `\\x${hex(char, 2)}` : `\\u${hex(char, 4)}`;
  });
}

/**
 * A JSON line: `JSON.stringify`, with the characters a terminal would act on
 * that JSON leaves raw (DEL, C1 controls, bidi and invisible formatting
 * characters) written as `\u` escapes. It parses back to the same value.
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (char) => `\\u${hex(char, 4)}`);
}

export { CSV_COLUMNS, CSV_HEADER, csvCell, csvLine } from '@audit-trail/core';

const TABLE_COLUMNS: Array<[string, (r: AuditRecord) => string]> = [
  ['created', (r) => r.created],
  ['id', (r) => r.id],
  ['action_type', (r) => r.action_type],
  ['resource_id', (r) => r.resource_id ?? ''],
  ['user', (r) => r.user.email ?? r.user.id],
  ['outcome', (r) => r.outcome],
  ['status', (r) => (r.status_code === null ? '' : String(r.status_code))],
  ['path', (r) => r.request.path ?? ''],
];

/** Longest cell shown, in characters; longer text ends in `…`. */
const MAX_CELL = 48;

/** Records as an aligned text table for a terminal, every cell made {@link printable}. */
export function recordTable(records: readonly AuditRecord[]): string {
  const rows = records.map((record) =>
    TABLE_COLUMNS.map(([, cell]) => {
      const text = printable(cell(record));
      return [...text].length > MAX_CELL ? `${[...text].slice(0, MAX_CELL - 1).join('')}…` : text;
    }),
  );
  const header = TABLE_COLUMNS.map(([name]) => name);
  const widths = header.map((name, i) => Math.max(name.length, ...rows.map((row) => [...row[i]!].length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell + ' '.repeat(widths[i]! - [...cell].length)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}
