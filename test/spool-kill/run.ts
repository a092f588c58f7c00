import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

export interface KillResult {
  /** Records the killed process's auditor confirmed (`recordDurable` resolved). */
  acknowledged: number;
  /** Of those, not in the remote store after the restart forwarded the spool. */
  acknowledgedLost: number;
  /** Records in the remote store that the killed process had not yet confirmed (committed, the answer lost with the process). */
  storedUnacknowledged: number;
  /** Records the restart found in the spool and forwarded. */
  leftInSpool: number;
  groupCommitMs: number;
}

/** Runs `child.ts write`, SIGKILLs it once `acks` records are confirmed, then `child.ts drain`, and counts. */
export async function killAndRestart(spool: string, remote: string, acks: number, groupCommitMs = 5): Promise<KillResult> {
  const acked = new Set<string>();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, 'write', spool, remote, String(groupCommitMs)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let rest = '';
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      for (const line of lines) if (line.startsWith('ack ')) acked.add(line.slice(4));
      if (!killed && acked.size >= acks) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the writer exited with ${code ?? signal} before it was killed: ${stderr}`))));
  });
  const drained = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, 'drain', spool, remote], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`the restart exited with ${code}: ${stderr}`))));
  });
  const db = new Database(remote, { readonly: true });
  const ids = new Set((db.prepare("SELECT id FROM audit_records WHERE account_id = 'acc_kill'").all() as Array<{ id: string }>).map((r) => r.id));
  db.close();
  let acknowledgedLost = 0;
  for (const id of acked) if (!ids.has(id)) acknowledgedLost++;
  let storedUnacknowledged = 0;
  for (const id of ids) if (!acked.has(id)) storedUnacknowledged++;
  return { acknowledged: acked.size, acknowledgedLost, storedUnacknowledged, leftInSpool: Number(/drained (\d+)/.exec(drained)?.[1] ?? NaN), groupCommitMs };
}
