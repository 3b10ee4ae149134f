DROP INDEX "idx_leaderboard_run_season_dungeon";
