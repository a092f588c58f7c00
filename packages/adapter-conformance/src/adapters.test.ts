import { expressHarness } from './harnesses/express.ts';
import { fastifyHarness } from './harnesses/fastify.ts';
import { honoHarness } from './harnesses/hono.ts';
import { describeAdapterConformance } from './suite.ts';

for (const harness of [expressHarness, honoHarness, fastifyHarness]) describeAdapterConformance(harness);
