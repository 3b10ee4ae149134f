import type postgres from 'postgres';
import { TOP_KEYS_VIEWS, topKeysViewSql } from '../../src/domains/leaderboard/views.js';

/**
 * The unpartitioned schemas pgparts converts from, as an app has them before partitioning: built
 * set-based (generate_series), so the benchmark can build a million runs in seconds. Used by the
 * conversion tests and `npm run bench`. Run against an empty database (`migrated: false`).
 */

export interface LegacyLeaderboardOptions {
  runs?: number;
  seasons?: number;
  membersPerRun?: number;
}

/** The plan's "current state": id bigserial PK, run_guid UNIQUE, members keyed by run_guid. */
export async function buildLegacyLeaderboard(
  sql: postgres.Sql,
  options: LegacyLeaderboardOptions = {},
): Promise<void> {
  const runs = options.runs ?? 2_000;
  const seasons = options.seasons ?? 3;
  const members = options.membersPerRun ?? 5;
  await sql.unsafe(`
    CREATE TABLE season (id integer PRIMARY KEY, name text NOT NULL, starts_at timestamptz, ends_at timestamptz);
    CREATE TABLE period (id integer PRIMARY KEY, season_id integer REFERENCES season(id), starts_at timestamptz, ends_at timestamptz);
    CREATE TABLE dungeon (id integer PRIMARY KEY, name text NOT NULL);
    CREATE TABLE realm (id integer PRIMARY KEY, name text NOT NULL, region varchar(8) NOT NULL);
    CREATE TABLE leaderboard_run (
      id bigserial PRIMARY KEY,
      run_guid uuid NOT NULL UNIQUE,
      region varchar(8),
      season_id integer NOT NULL REFERENCES season(id),
      period_id integer REFERENCES period(id),
      dungeon_id integer REFERENCES dungeon(id),
      realm_id integer REFERENCES realm(id),
      completed_at timestamp,
      duration_ms integer,
      keystone_level integer,
      score double precision,
      rank integer,
      UNIQUE (dungeon_id, period_id, season_id, region, completed_at, duration_ms, keystone_level, score)
    );
    CREATE INDEX legacy_run_season_dungeon ON leaderboard_run (season_id, dungeon_id, keystone_level DESC, score);
    CREATE TABLE run_group_member (
      run_guid uuid NOT NULL REFERENCES leaderboard_run(run_guid),
      character_name varchar(64) NOT NULL,
      class_id integer,
      spec_id integer,
      role varchar(16),
      PRIMARY KEY (run_guid, character_name)
    );`);
  await sql.unsafe(
    `INSERT INTO season SELECT s, 'Season ' || s FROM generate_series(1, $1::int) s`,
    [seasons],
  );
  await sql.unsafe(
    `INSERT INTO period SELECT p, 1 + (p - 1) / 4 FROM generate_series(1, $1::int * 4) p`,
    [seasons],
  );
  await sql.unsafe(`INSERT INTO dungeon SELECT d, 'Dungeon ' || d FROM generate_series(1, 8) d`);
  await sql.unsafe(`INSERT INTO realm SELECT r, 'Realm ' || r, 'eu' FROM generate_series(1, 5) r`);
  await sql.unsafe(
    `INSERT INTO leaderboard_run (run_guid, region, season_id, period_id, dungeon_id, realm_id,
                                  completed_at, duration_ms, keystone_level, score, rank)
     SELECT gen_random_uuid(), 'eu', s, (s - 1) * 4 + 1 + (g / $2::int) % 4, 1 + g % 8, 1 + g % 5,
            timestamp '2025-01-01' + g * interval '1 second', 900000 + g % 600000, 2 + g % 20,
            (g % 5000) * 0.1 + 100, NULL
     FROM generate_series(1, $1::int) g, LATERAL (SELECT 1 + g % $2::int AS s) x`,
    [runs, seasons],
  );
  await sql.unsafe(
    `INSERT INTO run_group_member (run_guid, character_name, class_id, spec_id, role)
     SELECT r.run_guid, 'char_' || r.id || '_' || m, 1 + (r.id + m) % 13, 1 + m, (ARRAY['tank','healer','dps','dps','dps'])[1 + (m - 1) % 5]
     FROM leaderboard_run r CROSS JOIN generate_series(1, $1::int) m`,
    [members],
  );
  for (const view of TOP_KEYS_VIEWS) {
    for (const statement of topKeysViewSql(view)) await sql.unsafe(statement);
  }
  await sql.unsafe(`
    CREATE VIEW run_with_members AS
      SELECT r.id, r.run_guid, r.season_id, r.keystone_level, count(m.character_name) AS members
      FROM leaderboard_run r LEFT JOIN run_group_member m ON m.run_guid = r.run_guid
      GROUP BY r.id, r.run_guid, r.season_id, r.keystone_level;
    CREATE VIEW season_summary AS
      SELECT season_id, count(*) AS runs, sum(members) AS members FROM run_with_members GROUP BY season_id;
    ANALYZE;`);
}

export interface LegacyKillmailOptions {
  killmails?: number;
  /** months of history before the current one */
  months?: number;
  participantsPerKillmail?: number;
}

/** A killmail feed keyed by killmail_id alone, enriched and participants referencing it. */
export async function buildLegacyKillmails(
  sql: postgres.Sql,
  options: LegacyKillmailOptions = {},
): Promise<void> {
  const killmails = options.killmails ?? 1_000;
  const months = options.months ?? 4;
  const participants = options.participantsPerKillmail ?? 3;
  await sql.unsafe(`
    CREATE TABLE killmails_raw (
      killmail_id bigint PRIMARY KEY,
      killmail_time timestamptz NOT NULL,
      system_id bigint NOT NULL,
      ship_type_id bigint NOT NULL,
      raw_payload jsonb NOT NULL,
      inserted_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX legacy_killmails_raw_time ON killmails_raw (killmail_time DESC);
    CREATE TABLE killmails_enriched (
      killmail_id bigint PRIMARY KEY REFERENCES killmails_raw(killmail_id),
      isk_value numeric NOT NULL,
      module_tags text[] NOT NULL,
      enrichment_blob jsonb NOT NULL,
      enriched_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE killmail_participants (
      killmail_id bigint NOT NULL REFERENCES killmails_raw(killmail_id),
      position smallint NOT NULL,
      is_victim boolean NOT NULL,
      character_id bigint, corporation_id bigint, alliance_id bigint, faction_id bigint,
      ship_type_id bigint, weapon_type_id bigint,
      damage_done integer NOT NULL DEFAULT 0,
      damage_taken integer NOT NULL DEFAULT 0,
      final_blow boolean NOT NULL DEFAULT false,
      security_status real,
      PRIMARY KEY (killmail_id, position)
    );`);
  // Spread over the current month and `months` before it, in UTC.
  await sql.unsafe(
    `INSERT INTO killmails_raw (killmail_id, killmail_time, system_id, ship_type_id, raw_payload)
     SELECT 100000000 + g,
            (date_trunc('month', now() AT TIME ZONE 'UTC') - (g % ($2::int + 1)) * interval '1 month'
              + (g % 20000) * interval '1 minute') AT TIME ZONE 'UTC',
            30000000 + g % 50, 580 + g % 30, jsonb_build_object('id', g, 'note', 'kill ' || g)
     FROM generate_series(1, $1::int) g`,
    [killmails, months],
  );
  await sql.unsafe(
    `INSERT INTO killmails_enriched (killmail_id, isk_value, module_tags, enrichment_blob)
     SELECT killmail_id, (killmail_id % 1000) * 1000000.5, ARRAY['tag' || killmail_id % 7], jsonb_build_object('k', killmail_id % 11)
     FROM killmails_raw WHERE killmail_id % 4 <> 0`,
  );
  await sql.unsafe(
    `INSERT INTO killmail_participants (killmail_id, position, is_victim, character_id, damage_done, final_blow)
     SELECT r.killmail_id, p, p = 0, CASE WHEN p % 3 = 2 THEN NULL ELSE 90000000 + (r.killmail_id + p) % 5000 END,
            (p * 137) % 1000, p = 1
     FROM killmails_raw r CROSS JOIN generate_series(0, $1::int - 1) p`,
    [participants],
  );
  await sql.unsafe(`
    CREATE VIEW big_kills AS
      SELECT r.killmail_id, r.killmail_time, e.isk_value
      FROM killmails_raw r JOIN killmails_enriched e ON e.killmail_id = r.killmail_id
      WHERE e.isk_value > 500000000;
    ANALYZE;`);
}
