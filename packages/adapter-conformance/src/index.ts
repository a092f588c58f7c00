export { describeAdapterConformance } from './suite.ts';
export { ADMINS_ONLY, behave, ROUTE_MAP, type AdapterHarness, type ConformanceSetup, type HeaderOf } from './harness.ts';
