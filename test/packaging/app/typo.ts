// Must not compile: 'refnd' is not an action type of the catalog.
import { createAuditor, memoryStore } from '@audit-trail/core';
import { expressAudit } from '@audit-trail/express';

const audit = expressAudit({ auditor: createAuditor({ store: memoryStore() }), identify: () => null });
export const handler = audit.action('refnd');
