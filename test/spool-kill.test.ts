import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killAndRestart } from './spool-kill/run.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-trail-spool-kill-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the spool under kill -9', () => {
  it('loses no record the auditor confirmed: a restart forwards what the killed process left in its spool', async () => {
    // A long group-commit interval widens the window in which a kill finds records not yet committed.
    const result = await killAndRestart(path.join(dir, 'spool.db'), path.join(dir, 'remote.db'), 3000, 50);
    // Printed, not asserted: how many the spool held at the kill, and those whose answer died with the process.
    console.log(`kill -9 after ${result.acknowledged} confirmed records: ${result.leftInSpool} left in the spool and forwarded on restart, ` +
      `${result.storedUnacknowledged} stored that the process never confirmed, ${result.acknowledgedLost} confirmed and lost ` +
      `(group commit ${result.groupCommitMs} ms)`);
    expect(result.acknowledged).toBeGreaterThanOrEqual(3000);
    expect(Number.isInteger(result.leftInSpool)).toBe(true);
    expect(result.acknowledgedLost).toBe(0);
  }, 120_000);
});
