export { killmailFamily } from './partitioning.js';
export * from './tables.js';
