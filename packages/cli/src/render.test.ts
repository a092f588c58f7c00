import { sampleRecord } from '@audit-trail/store-conformance';
import { describe, expect, it } from 'vitest';
import { csvCell, csvLine, CSV_COLUMNS, jsonLine, printable, recordTable } from './render.ts';

describe('printable', () => {
  it('turns every control and hidden formatting character into a visible escape', () => {
    expect(printable('a\u001b[2Jb')).toBe('a\\x1b[2Jb');
    expect(printable('line\nnext\r\tx\u0000\u007f\u009b')).toBe('line\\nnext\\r\\tx\\x00\\x7f\\x9b');
    expect(printable('abc\u202edcba\u2066\u200b\ufeff')).toBe('abc\\u202edcba\\u2066\\u200b\\ufeff');
  });

  it('leaves ordinary text, accents, other scripts and emoji alone', () => {
    const text = 'Zoë — 日本語 العربية 🧾 "quoted" \\ back';
    expect(printable(text)).toBe(text);
  });
});

describe('jsonLine', () => {
  it('escapes what a terminal would act on and parses back to the same value', () => {
    const value = { ua: 'x\u001b]0;title\u0007\u009b31m\u202eevil\u2028', n: 1 };
    const line = jsonLine(value);
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u202e]/);
    expect(JSON.parse(line)).toEqual(value);
  });
});

describe('csvCell', () => {
  it('quotes quotes, commas and line breaks (RFC 4180)', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell(null)).toBe('');
    expect(csvCell(201)).toBe('201');
  });

  it('defuses formulas: a cell starting with =, +, -, @, tab or CR becomes text', () => {
    expect(csvCell('=HYPERLINK("http://evil","x")')).toBe(`"'=HYPERLINK(""http://evil"",""x"")"`);
    expect(csvCell('+1+1')).toBe("'+1+1");
    expect(csvCell('-2+3')).toBe("'-2+3");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('\t=1')).toBe("'\t=1");
    expect(csvCell('a=1')).toBe('a=1');
  });

  it('writes one cell per column, details as JSON', () => {
    const record = sampleRecord({ details: { note: 'a,b' } });
    const line = csvLine(record);
    expect(line.endsWith('\r\n')).toBe(true);
    expect(line).toContain('"{""note"":""a,b""}"');
    expect(CSV_COLUMNS).toHaveLength(21);
    // No changes recorded: an empty last cell.
    expect(line.endsWith(',\r\n')).toBe(true);
  });

  it('writes changes as JSON in the last column', () => {
    const line = csvLine(sampleRecord({ changes: { url: { from: 'https://a.example', to: '=cmd' } } }));
    expect(CSV_COLUMNS.at(-1)).toBe('changes');
    expect(line.endsWith(`,"{""url"":{""from"":""https://a.example"",""to"":""=cmd""}}"\r\n`)).toBe(true);
  });
});

describe('recordTable', () => {
  it('aligns columns, shortens long cells and escapes control characters', () => {
    const record = sampleRecord({ resource_id: 'pay_\u001b[31mred', request: { path: `/${'x'.repeat(100)}` } });
    const table = recordTable([record]);
    expect(table).not.toContain('\u001b');
    expect(table).toContain('pay_\\x1b[31mred');
    expect(table).toContain('…');
    const [header, rule] = table.split('\n');
    expect(header).toMatch(/^created\s+id\s+action_type/);
    expect(rule).toMatch(/^-+ {2}-+/);
  });
});
