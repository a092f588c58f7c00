import { exampleApps, memoryStoreKind } from './support/apps.ts';
import { describeContract, describeStoreOutage } from './support/contract-suite.ts';

for (const app of exampleApps) {
  describeContract(app, memoryStoreKind);
  describeStoreOutage(app);
}
