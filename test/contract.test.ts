import { exampleApps, storeKinds } from './support/apps.ts';
import { describeContract, describeStoreOutage } from './support/contract-suite.ts';

for (const app of exampleApps) {
  for (const kind of storeKinds) describeContract(app, kind);
  describeStoreOutage(app);
}
