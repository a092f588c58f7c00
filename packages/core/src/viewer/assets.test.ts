import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { VIEWER_FILES } from './assets.ts';

/** What the viewer may weigh, gzip-compressed, all files together: the budget the README states. */
const BUDGET_GZIP_BYTES = 60 * 1024;

const file = (name: string) => readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');

describe('the viewer files', () => {
  it('assets.ts holds the files beside it as they are (run node scripts/viewer-assets.mjs after changing one)', () => {
    expect(Object.keys(VIEWER_FILES).sort()).toEqual(['index.html', 'viewer.css', 'viewer.js']);
    for (const name of Object.keys(VIEWER_FILES)) expect(VIEWER_FILES[name], name).toBe(file(name));
  });

  it(`stays within ${BUDGET_GZIP_BYTES / 1024} KB gzip`, () => {
    const total = Object.values(VIEWER_FILES).reduce((sum, text) => sum + gzipSync(text, { level: 9 }).length, 0);
    expect(total).toBeLessThanOrEqual(BUDGET_GZIP_BYTES);
  });

  it('never writes HTML from data: no innerHTML, outerHTML, insertAdjacentHTML, document.write or eval', () => {
    const js = VIEWER_FILES['viewer.js']!;
    for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'new Function']) expect(js, sink).not.toContain(sink);
    expect(VIEWER_FILES['index.html']).not.toMatch(/<script(?![^>]*\bsrc=)|\bon[a-z]+=|style=/);
  });
});
