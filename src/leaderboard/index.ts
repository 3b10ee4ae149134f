export { leaderboardFamily } from './partitioning.js';
export * from './tables.js';
export * from './views.js';
