import type postgres from 'postgres';

/**
 * pg_partman's side, through the calls its documentation recommends for native partitioning
 * (4.x; 5.x differs only in create_parent's p_type): create_parent(p_type 'native'), run_maintenance(parent) for one set and
 * run_maintenance_proc() for all, partition_data_proc to move rows out of DEFAULT, and
 * retention through part_config (retention, retention_keep_table = false). The extension lives
 * in its own schema `partman`, as the docs install it.
 */

export async function installPartman(sql: postgres.Sql): Promise<string> {
  await sql`CREATE SCHEMA IF NOT EXISTS partman`;
  await sql`CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman`;
  const [row] = await sql<
    { v: string }[]
  >`SELECT extversion AS v FROM pg_extension WHERE extname = 'pg_partman'`;
  return row?.v ?? 'unknown';
}

/**
 * Monthly native set with DEFAULT, partitions from `start` through `premake` months ahead. 4.x
 * names native partitioning p_type 'native'; 5.x (native only) calls it 'range' and takes an
 * interval value. Only 4.7.2 has been measured.
 */
export async function createParent(
  sql: postgres.Sql,
  parent: string,
  start: Date,
  premake: number,
): Promise<void> {
  const [row] = await sql<{ v: string }[]>`
    SELECT extversion AS v FROM pg_extension WHERE extname = 'pg_partman'`;
  const v5 = Number.parseInt(row?.v ?? '4', 10) >= 5;
  await sql`SELECT partman.create_parent(
    p_parent_table := ${parent}, p_control := 'occurred_at', p_type := ${v5 ? 'range' : 'native'},
    p_interval := ${v5 ? '1 month' : 'monthly'}, p_premake := ${premake}::int,
    p_start_partition := ${start.toISOString().slice(0, 19).replace('T', ' ')})`;
}

/** One set's maintenance: premake, retention (run_maintenance(p_parent_table), PG11+: no analyze). */
export async function runMaintenance(sql: postgres.Sql, parent: string): Promise<void> {
  await sql`SELECT partman.run_maintenance(p_parent_table := ${parent})`;
}

/** Every set with automatic_maintenance 'on', a commit after each (the PG11+ recommendation). */
export async function runMaintenanceProc(sql: postgres.Sql): Promise<void> {
  await sql.unsafe('CALL partman.run_maintenance_proc()');
}

/**
 * Moves one interval's rows out of DEFAULT into a partition it creates: p_batch 1 moves the
 * oldest interval in DEFAULT (ASC), the one the case filled; without it the procedure would go
 * on with the writer's month after a 1 s pause. Text only: CALL with COMMIT inside cannot take
 * bind parameters in a transaction block.
 */
export async function partitionData(sql: postgres.Sql, parent: string): Promise<void> {
  const literal = `'${parent.replaceAll("'", "''")}'`;
  await sql.unsafe(`CALL partman.partition_data_proc(p_parent_table := ${literal}, p_batch := 1)`);
}

export async function setPremake(sql: postgres.Sql, parent: string, premake: number) {
  await sql`UPDATE partman.part_config SET premake = ${premake}::int WHERE parent_table = ${parent}`;
}

/** Drop (not keep) partitions older than `retention`; null turns retention off. */
export async function setRetention(sql: postgres.Sql, parent: string, retention: string | null) {
  await sql`UPDATE partman.part_config
    SET retention = ${retention}, retention_keep_table = false, retention_keep_index = false
    WHERE parent_table = ${parent}`;
}

/** Only the sets whose parent matches `like` get run_maintenance_proc()'s attention. */
export async function onlyMaintain(sql: postgres.Sql, like: string) {
  await sql`UPDATE partman.part_config
    SET automatic_maintenance = CASE WHEN parent_table LIKE ${like} THEN 'on' ELSE 'off' END`;
}
