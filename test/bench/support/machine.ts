import { execFileSync } from 'node:child_process';
import os from 'node:os';
import Database from 'better-sqlite3';

/** The machine and runtime a report was made on. */
export function machineDescription(): string[] {
  const cpus = os.cpus();
  const db = new Database(':memory:');
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  db.close();
  return [
    `CPU: ${cpus[0]?.model.trim() ?? 'unknown'}, ${cpus.length} cores (logical), load average at start ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `RAM: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `OS: ${os.type()} ${os.release()} (${os.arch()})`,
    `Node.js ${process.version}, SQLite ${sqlite} (better-sqlite3)`,
    `Date: ${new Date().toISOString()}`,
    `Code: ${revision()}`,
  ];
}

/** The commit measured, and whether the working tree differed from it. */
function revision(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    const changed = git('status', '--porcelain', '--untracked-files=no', '--', 'packages').split('\n').filter(Boolean).length;
    return `commit ${commit}${changed > 0 ? ` with ${changed} uncommitted change(s) under packages/` : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}
