import { describe, expect, it } from 'vitest';
import { parseTraceparent } from './trace.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('parseTraceparent', () => {
  it('parses a valid version 00 header', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ trace_id: TRACE, span_id: SPAN });
  });

  it('accepts any flags', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-ff`)).toEqual({ trace_id: TRACE, span_id: SPAN });
  });

  it.each([null, undefined, ''])('is null for %j', (header) => {
    expect(parseTraceparent(header)).toBeNull();
  });

  it.each([
    ['uppercase trace id', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['uppercase span id', `00-${TRACE}-${SPAN.toUpperCase()}-01`],
    ['uppercase version', `0A-${TRACE}-${SPAN}-01`],
    ['uppercase flags', `00-${TRACE}-${SPAN}-0A`],
    ['short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['long trace id', `00-${TRACE}0-${SPAN}-01`],
    ['short span id', `00-${TRACE}-${SPAN.slice(1)}-01`],
    ['long span id', `00-${TRACE}-${SPAN}0-01`],
    ['short version', `0-${TRACE}-${SPAN}-01`],
    ['long version', `000-${TRACE}-${SPAN}-01`],
    ['short flags', `00-${TRACE}-${SPAN}-1`],
    ['long flags', `00-${TRACE}-${SPAN}-011`],
    ['missing flags', `00-${TRACE}-${SPAN}`],
    ['non-hex trace id', `00-${TRACE.slice(1)}g-${SPAN}-01`],
    ['non-hex version', `0g-${TRACE}-${SPAN}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['version 00 with an extra field', `00-${TRACE}-${SPAN}-01-extra`],
    ['version 00 with a trailing dash', `00-${TRACE}-${SPAN}-01-`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['underscores', `00_${TRACE}_${SPAN}_01`],
    ['future version with junk glued to the flags', `01-${TRACE}-${SPAN}-01extra`],
    ['garbage', 'not a traceparent'],
  ])('is null for a %s', (_name, header) => {
    expect(parseTraceparent(header)).toBeNull();
  });

  it('accepts a future version, with or without extra fields', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01`)).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-extra-fields`)).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-09-what-the-future-will-bring`)).toEqual({ trace_id: TRACE, span_id: SPAN });
  });

  it('returns ids that satisfy the record schema (lowercase hex, 32 and 16 digits)', () => {
    const trace = parseTraceparent(`00-${TRACE}-${SPAN}-01`)!;
    expect(trace.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(trace.span_id).toMatch(/^[0-9a-f]{16}$/);
  });
});
