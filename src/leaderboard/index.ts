export { leaderboardFamily } from './partitioning.js';
export * from './queries/index.js';
export * from './tables.js';
export * from './views.js';
