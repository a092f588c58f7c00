// The packages loaded with require(): Node 20.19+ loads their ES modules synchronously.
const express = require('express');
const { createAuditor } = require('@audit-trail/core');
const { expressAudit } = require('@audit-trail/express');
const { sqliteStore } = require('@audit-trail/sqlite');
const { serve } = require('./express-serve.mjs');

serve({ express, createAuditor, expressAudit, sqliteStore }, process.argv[2]);
