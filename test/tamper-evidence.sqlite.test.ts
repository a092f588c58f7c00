import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sqliteStore } from '@audit-trail/sqlite';
import Database from 'better-sqlite3';
import { CHAIN_KEY, tamperEvidence, type Row } from './support/tamper-scenarios.ts';

tamperEvidence(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-trail-tamper-'));
  const file = path.join(dir, 'audit.db');
  const plainStore = sqliteStore({ database: file });
  const keyedStore = sqliteStore({ database: file, chain: { key: CHAIN_KEY } });
  // The attacker's own connection to the file.
  const db = new Database(file);
  return {
    name: 'sqlite',
    records: 'audit_records',
    heads: 'audit_chain_heads',
    plainStore,
    keyedStore,
    async sql(text, parameters = []) {
      const statement = db.prepare(text);
      if (statement.reader) return statement.all(...parameters) as Row[];
      statement.run(...parameters);
      return [];
    },
    async insertRow(row) {
      const columns = Object.keys(row);
      db.prepare(`INSERT INTO audit_records (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`).run(...Object.values(row));
    },
    async close() {
      await plainStore.close();
      await keyedStore.close();
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
