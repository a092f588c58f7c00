import { testStore } from '@audit-trail/store-conformance';
import { memoryStore } from './memory-store.ts';

testStore({ name: 'memory', create: () => memoryStore() });
