import express from 'express';
import { createAuditor } from '@audit-trail/core';
import { expressAudit } from '@audit-trail/express';
import { sqliteStore } from '@audit-trail/sqlite';
import { serve } from './express-serve.mjs';

serve({ express, createAuditor, expressAudit, sqliteStore }, process.argv[2]);
