export { CHAIN_CASES, CONFORMANCE_CASES, type ConformanceCase } from './cases.ts';
export { sampleRecord, type SampleRecordOverrides } from './sample-record.ts';
export { testStore, type StoreConformanceOptions } from './test-store.ts';
