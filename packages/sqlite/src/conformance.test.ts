import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testStore } from '@audit-trail/store-conformance';
import { afterAll } from 'vitest';
import { sqliteStore } from './index.ts';

// One database file for the whole suite: cases isolate themselves by random account ids.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-trail-sqlite-conformance-'));
const file = path.join(dir, 'audit.db');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

testStore({ name: 'sqlite (file)', create: () => sqliteStore({ database: file }) });
testStore({ name: 'sqlite (file, thread: false)', create: () => sqliteStore({ database: file, thread: false }) });
