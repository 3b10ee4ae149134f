import { partitionFamily } from '../../define/spec.js';
import { leaderboardRun, runGroupMember } from './tables.js';

/**
 * leaderboard_run and run_group_member: LIST by season_id, one partition per row of `season`
 * (announced seasons included), and a DEFAULT partition so a season nobody prepared for is still
 * accepted. Rows that land in DEFAULT are drained into their own partitions by the engine.
 */
export const leaderboardFamily = partitionFamily({
  name: 'leaderboard',
  tables: [leaderboardRun, runGroupMember],
  partitionBy: {
    strategy: 'list',
    column: 'season_id',
    valuesFrom: { table: 'season', column: 'id' },
  },
  defaultPartition: true,
});
