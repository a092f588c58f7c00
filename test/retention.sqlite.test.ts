import path from 'node:path';
import { sqliteStore } from '@audit-trail/sqlite';
import Database from 'better-sqlite3';
import { RETENTION_CHAIN_KEY, retentionScenarios, tempDir } from './support/retention-scenarios.ts';

const dir = tempDir('audit-trail-retention-sqlite-');
let n = 0;
const opened: Array<{ close(): unknown }> = [];

retentionScenarios('SQLite', async () => ({
  async open() {
    const file = path.join(dir, `audit-${++n}.db`);
    const store = sqliteStore({ database: file, chain: { key: RETENTION_CHAIN_KEY } });
    // Another connection to the file, as someone with write access would use.
    const db = new Database(file);
    opened.push(store, db);
    return {
      store,
      records: 'audit_records',
      anchors: 'audit_prune_anchors',
      async sql(text, parameters = []) {
        const statement = db.prepare(text);
        if (statement.reader) return statement.all(...parameters) as Array<Record<string, unknown>>;
        statement.run(...parameters);
        return [];
      },
    };
  },
  async close() {
    for (const handle of opened) await handle.close();
  },
}));
