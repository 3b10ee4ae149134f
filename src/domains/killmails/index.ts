export { killmailFamily } from './partitioning.js';
export * from './queries/index.js';
export * from './surveillance-filter.js';
export * from './tables.js';
