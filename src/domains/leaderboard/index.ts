export { leaderboardFamily } from './partitioning.js';
export * from './queries/index.js';
export {
  drainSeason,
  dropSeason,
  ensureSeasonPartitions,
  reattachSeason,
} from './seasons.js';
export * from './tables.js';
export * from './views.js';
