-- pgparts:online
DO $$ BEGIN IF current_setting('pgparts.migrate', true) IS DISTINCT FROM 'on' THEN RAISE EXCEPTION 'this migration builds indexes online; run it with pgparts migrate'; END IF; END $$;
-- pgparts:create-index-online {"table":{"schema":"public","name":"leaderboard_run"},"name":"idx_leaderboard_run_season_dungeon","columns":[{"column":"season_id"},{"column":"dungeon_id"},{"column":"keystone_level","order":"desc"},{"column":"score","order":"desc"},{"column":"id"}],"unique":false,"include":[]}
