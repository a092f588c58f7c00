/** A Markdown table; cells are written as given, `|` escaped. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r')[]): string {
  const escape = (cell: string) => cell.replaceAll('|', '\\|');
  const rule = header.map((_, i) => ((align?.[i] ?? 'l') === 'r' ? '---:' : '---'));
  return [header, rule, ...rows].map((row) => `| ${row.map(escape).join(' | ')} |`).join('\n');
}

/** A number with thousands separators and `digits` decimals. */
export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Milliseconds with two decimals. */
export function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : '–';
}

/** A ratio like `0.97×`. */
export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '–';
}

/** A signed difference in milliseconds, like `+0.41`. */
export function deltaMs(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(2)}`;
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return Number.isFinite(bytes) ? (bytes / 2 ** 20).toFixed(1) : '–';
}

/** `met` or `**not met**`. */
export function verdict(met: boolean): string {
  return met ? 'met' : '**not met**';
}
