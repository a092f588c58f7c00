export { run, type CliIo, type OutputStream } from './cli.ts';
export { CSV_COLUMNS, CSV_HEADER, csvCell, csvLine, jsonLine, printable, recordTable } from './render.ts';
export { openStore, parseStoreSpec, type OpenOptions, type StoreSpec } from './store-spec.ts';
export { EXIT, UsageError } from './usage.ts';
