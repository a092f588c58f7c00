/**
 * A process that records actions through an auditor over
 * `spooled(sqliteStore(remote), { path: spool })`, for the kill -9 test and
 * bench. `write`: records without end, 32 at a time with `recordDurable`,
 * and prints `ack <id>` for each one the auditor confirmed (the spool
 * committed it), until it is killed. `drain`: opens the same spool, waits
 * until what a previous process left is forwarded, prints `drained <n>`.
 */
import { createAuditor } from '@audit-trail/core';
import { spooled, sqliteStore } from '@audit-trail/sqlite';

const [mode, spoolPath, remotePath, groupCommit] = process.argv.slice(2);
if (!mode || !spoolPath || !remotePath) throw new Error('usage: child.ts write|drain <spool.db> <remote.db> [groupCommitMs]');
const store = spooled(sqliteStore({ database: remotePath }), { path: spoolPath, groupCommitMs: Number(groupCommit ?? 5) });
await store.ready;

if (mode === 'drain') {
  const left = store.spoolStats().records;
  await store.drained();
  await store.close();
  process.stdout.write(`drained ${left}\n`);
} else {
  const auditor = createAuditor({ store, onError: () => undefined });
  let out = '';
  let flushing = false;
  const flush = () => {
    if (flushing || out === '') return;
    flushing = true;
    const chunk = out;
    out = '';
    process.stdout.write(chunk, () => {
      flushing = false;
      flush();
    });
  };
  let n = 0;
  const lane = async (): Promise<never> => {
    for (;;) {
      const record = await auditor.recordDurable({ action_type: 'refund', user: { id: 'usr_kill' }, account_id: 'acc_kill', resource_id: `pay_${n++}` });
      out += `ack ${record.id}\n`;
      flush();
    }
  };
  process.stdout.write('started\n');
  await Promise.all(Array.from({ length: 32 }, lane));
}
