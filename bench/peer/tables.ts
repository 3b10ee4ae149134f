import type postgres from 'postgres';
import { quoteIdent, quoteQualified } from '../../src/sql/identifiers.js';

/**
 * The tables both tools manage, created alike in each tool's schema: `events(id, occurred_at,
 * payload)` RANGE-partitioned by month on occurred_at, primary key (id, occurred_at) (a
 * partitioned table's key must contain the partition column), one secondary index on
 * occurred_at; and, for the foreign key case, `event_notes` referencing it ON DELETE CASCADE.
 */

export async function createEventsTable(sql: postgres.Sql, schema: string, table = 'events') {
  const parent = quoteQualified(schema, table);
  await sql.unsafe(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  await sql.unsafe(`CREATE SEQUENCE ${quoteQualified(schema, `${table}_id_seq`)}`);
  await sql.unsafe(`CREATE TABLE ${parent} (
    id bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload text,
    PRIMARY KEY (id, occurred_at)
  ) PARTITION BY RANGE (occurred_at)`);
  await sql.unsafe(
    `CREATE INDEX ${quoteIdent(`${table}_occurred_at_idx`)} ON ${parent} (occurred_at)`,
  );
}

/** event_notes: one row per event, its foreign key ON DELETE CASCADE, same partitioning. */
export async function createNotesTable(sql: postgres.Sql, schema: string) {
  await sql.unsafe(`CREATE TABLE ${quoteQualified(schema, 'event_notes')} (
    id bigint NOT NULL,
    event_id bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    note text,
    PRIMARY KEY (id, occurred_at),
    FOREIGN KEY (event_id, occurred_at) REFERENCES ${quoteQualified(schema, 'events')} (id, occurred_at) ON DELETE CASCADE
  ) PARTITION BY RANGE (occurred_at)`);
  await sql.unsafe(
    `CREATE INDEX event_notes_event_idx ON ${quoteQualified(schema, 'event_notes')} (event_id, occurred_at)`,
  );
}

/** `rows` events spread evenly over [from, to), the same on every side (payload from the row number). */
export async function fillEvents(
  sql: postgres.Sql,
  schema: string,
  from: Date,
  to: Date,
  rows: number,
  table = 'events',
): Promise<void> {
  const chunk = 250_000;
  for (let first = 1; first <= rows; first += chunk) {
    const last = Math.min(rows, first + chunk - 1);
    await sql.unsafe(
      `INSERT INTO ${quoteQualified(schema, table)} (id, occurred_at, payload)
       SELECT nextval($1::regclass), $2::timestamptz + (g - 0.5) * ($3::timestamptz - $2::timestamptz) / $4::int, md5(g::text)
       FROM generate_series($5::int, $6::int) g`,
      [
        quoteQualified(schema, `${table}_id_seq`),
        from.toISOString(),
        to.toISOString(),
        rows,
        first,
        last,
      ],
    );
  }
}

/** One note per event of [from, to). */
export async function fillNotes(sql: postgres.Sql, schema: string, from: Date, to: Date) {
  await sql.unsafe(
    `INSERT INTO ${quoteQualified(schema, 'event_notes')} (id, event_id, occurred_at, note)
     SELECT id, id, occurred_at, 'note ' || id FROM ${quoteQualified(schema, 'events')}
     WHERE occurred_at >= $1::timestamptz AND occurred_at < $2::timestamptz`,
    [from.toISOString(), to.toISOString()],
  );
}

export interface Checksum {
  rows: number;
  sum: string;
}

/** Count and sum of a hash of every row of [from, to), read through the parent. */
export async function checksum(
  sql: postgres.Sql,
  schema: string,
  table: string,
  from: Date,
  to: Date,
): Promise<Checksum> {
  const [row] = await sql.unsafe<{ rows: string; sum: string }[]>(
    `SELECT count(*) AS rows, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS sum
     FROM ${quoteQualified(schema, table)} t WHERE occurred_at >= $1::timestamptz AND occurred_at < $2::timestamptz`,
    [from.toISOString(), to.toISOString()],
  );
  return { rows: Number(row?.rows ?? 0), sum: row?.sum ?? '0' };
}

/** Rows in a parent's DEFAULT partition (exact). */
export async function defaultRows(sql: postgres.Sql, schema: string, table: string) {
  const [found] = await sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = ${quoteQualified(schema, table)}::regclass
      AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'`;
  if (!found) return { name: null, rows: 0 };
  const [counted] = await sql.unsafe<{ n: string }[]>(
    `SELECT count(*) AS n FROM ${quoteQualified(schema, found.name)}`,
  );
  return { name: found.name, rows: Number(counted?.n ?? 0) };
}

/** Partitions attached to a parent, DEFAULT excluded. */
export async function partitionCount(sql: postgres.Sql, schema: string, table: string) {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = ${quoteQualified(schema, table)}::regclass
      AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'`;
  return row?.n ?? 0;
}
