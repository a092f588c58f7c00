import { table, verdict } from './markdown.ts';

/** One of the targets, as measured. */
export interface TargetResult {
  target: string;
  measured: string;
  met: boolean;
}

export function targetTable(results: readonly TargetResult[]): string {
  return table(
    ['target', 'measured', ''],
    results.map((r) => [r.target, r.measured, verdict(r.met)]),
  );
}

/** The result of one scenario: its section of the report and the targets it checked. */
export interface ScenarioResult {
  markdown: string;
  targets: TargetResult[];
}
