// Runs the Hono app in Bun or Deno: drives it through app.fetch and prints what it saw.
import { memoryStore } from '@audit-trail/core';
import { sqliteStore } from '@audit-trail/sqlite';
import { drive, makeApp } from './hono-app.mjs';
// On Bun a path opens with bun:sqlite; Deno runs on the in-memory store.
const store = typeof Bun !== 'undefined' ? sqliteStore({ database: process.argv[2] }) : memoryStore();
const app = makeApp(store);
const runtime = typeof Bun !== 'undefined' ? 'bun' : typeof Deno !== 'undefined' ? 'deno' : 'node';
console.log(JSON.stringify({ runtime, ...(await drive((request) => Promise.resolve(app.fetch(request)))) }));
