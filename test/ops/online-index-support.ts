import type postgres from 'postgres';
import type { PartitionIndexFacts } from '../../src/ops/online-index-plan.js';
import type { TestDatabase } from '../support/test-database.js';

/**
 * Helpers for the online index tests: writers that insert until stopped, a sampler that reads
 * lock waits from the server (pg_locks), and the state of an index on a table's partitions.
 */

export interface Writer {
  pid: number;
  inserted: number;
  errors: string[];
  /** The longest insert as the server timed it (statement start to end, lock waits included). */
  longestMs: number;
  stop(): Promise<void>;
}

/** Inserts one row at a time into events (tenants 1-5) on its own connection until stopped. */
export async function startWriter(t: TestDatabase, n: number): Promise<Writer> {
  const client = t.connect({ max: 1 });
  const [row] = await client<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
  const writer: Writer = {
    pid: Number(row?.pid),
    inserted: 0,
    errors: [],
    longestMs: 0,
    stop: async () => {},
  };
  let writing = true;
  let id = 10_000_000 * (n + 1);
  const done = (async () => {
    while (writing) {
      id += 1;
      try {
        // Simple protocol: statement_timestamp() is when the query arrived, before any lock wait.
        const [timed] = await client
          .unsafe<{ ms: number }[]>(
            `INSERT INTO events (tenant_id, id, kind, payload)
             VALUES (${(id % 5) + 1}, ${id}, 'kind_${id % 97}', 'written during the build')
             RETURNING (extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::float8 AS ms`,
          )
          .simple();
        writer.inserted += 1;
        writer.longestMs = Math.max(writer.longestMs, Number(timed?.ms));
      } catch (error) {
        writer.errors.push((error as Error).message);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  writer.stop = async () => {
    writing = false;
    await done;
  };
  return writer;
}

export interface LockWaitSampler {
  samples: number;
  waitingSamples: number;
  longestWaitMs: number;
  /** What the writer waited behind at its longest wait (the blocking sessions' queries). */
  longestWaitBehind: string;
  /** The longest wait behind an index statement (CREATE / ALTER / DROP INDEX). */
  longestWaitBehindIndexMs: number;
  stop(): Promise<void>;
}

/**
 * Every ~10 ms, asks the server which of `pids` wait for a lock and since when (pg_locks
 * waitstart), and keeps the longest wait seen.
 */
export function startLockWaitSampler(t: TestDatabase, pids: number[]): LockWaitSampler {
  const client = t.connect({ max: 1 });
  const sampler: LockWaitSampler = {
    samples: 0,
    waitingSamples: 0,
    longestWaitMs: 0,
    longestWaitBehind: '',
    longestWaitBehindIndexMs: 0,
    stop: async () => {},
  };
  let sampling = true;
  const done = (async () => {
    while (sampling) {
      const rows = await client<{ ms: number | null; behind: string | null }[]>`
        SELECT (extract(epoch FROM clock_timestamp() - l.waitstart) * 1000)::float8 AS ms,
               (SELECT string_agg(left(a.query, 70), ' | ') FROM pg_stat_activity a
                 WHERE a.pid = ANY(pg_blocking_pids(l.pid))) AS behind
        FROM pg_locks l WHERE NOT l.granted AND l.pid = ANY(${pids}::int[])`;
      sampler.samples += 1;
      if (rows.length > 0) sampler.waitingSamples += 1;
      for (const row of rows) {
        if (/\bINDEX\b/.test(row.behind ?? '')) {
          sampler.longestWaitBehindIndexMs = Math.max(
            sampler.longestWaitBehindIndexMs,
            Number(row.ms ?? 0),
          );
        }
        if (Number(row.ms ?? 0) > sampler.longestWaitMs) {
          sampler.longestWaitMs = Number(row.ms ?? 0);
          sampler.longestWaitBehind = row.behind ?? '';
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  sampler.stop = async () => {
    sampling = false;
    await done;
  };
  return sampler;
}

export interface IndexStates {
  parentValid: boolean | undefined;
  partitions: {
    partition: string;
    index: string | null;
    attached: boolean;
    valid: boolean;
    indoption: string | null;
  }[];
  /** Every INVALID index on the table's partitions, attached or not. */
  invalid: string[];
}

/** The parent index's validity and, per partition, the index attached to it. */
export async function indexStates(
  sql: postgres.Sql,
  table: string,
  index: string,
): Promise<IndexStates> {
  const [parent] = await sql<{ valid: boolean }[]>`
    SELECT x.indisvalid AS valid FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
    WHERE ic.relname = ${index} AND ic.relnamespace = 'public'::regnamespace`;
  const partitions = await sql<IndexStates['partitions']>`
    SELECT c.relname AS partition, a.index, a.index IS NOT NULL AS attached,
           coalesce(a.valid, false) AS valid, a.indoption
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    LEFT JOIN LATERAL (
      SELECT ic.relname AS index, x.indisvalid AS valid, x.indoption::text AS indoption
      FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
      JOIN pg_inherits h ON h.inhrelid = ic.oid
      JOIN pg_class pi ON pi.oid = h.inhparent
      WHERE x.indrelid = c.oid AND pi.relname = ${index}
    ) a ON true
    WHERE i.inhparent = ${`public.${table}`}::regclass
    ORDER BY c.relname`;
  const invalid = await sql<{ name: string }[]>`
    SELECT ic.relname AS name FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
    JOIN pg_inherits i ON i.inhrelid = x.indrelid
    WHERE i.inhparent = ${`public.${table}`}::regclass AND NOT x.indisvalid ORDER BY 1`;
  return {
    parentValid: parent?.valid,
    partitions: [...partitions],
    invalid: invalid.map((r) => r.name),
  };
}

/** A partition's index as the catalog read describes it: a valid one-column btree, unattached. */
export function partitionIndexFacts(
  name: string,
  extra: Partial<PartitionIndexFacts> = {},
): PartitionIndexFacts {
  return {
    name,
    valid: true,
    unique: false,
    method: 'btree',
    keyColumns: 1,
    totalColumns: 1,
    indoption: [0],
    partial: false,
    attached: false,
    attachedElsewhere: false,
    ...extra,
  };
}
