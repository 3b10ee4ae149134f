import type postgres from 'postgres';
import { builtInTarget } from '../src/domains/presets.js';
import {
  convertBackfill,
  convertFill,
  convertPrep,
  convertSwap,
} from '../src/ops/convert/index.js';
import { twinSchema } from '../src/ops/convert/names.js';
import type { AnyPgDatabase } from '../src/run/database.js';
import { quoteIdent, quoteQualified } from '../src/sql/identifiers.js';
import { buildLegacyLeaderboard } from '../test/support/legacy-fixtures.js';
import { step } from './progress.js';

export interface ConversionResult {
  runs: number;
  members: number;
  /** One INSERT INTO twin SELECT ... FROM legacy per table, in one transaction (rolled back). */
  naiveCopyMs: number;
  naiveRowsPerSecond: number;
  fillRowsCopied: number;
  fillMs: number;
  fillRowsPerSecond: number;
  /** fill throughput / naive throughput */
  fillVsNaive: number;
  swapLockHoldMs: number;
  swapAttempts: number;
  note: string;
}

const TABLES = ['leaderboard_run', 'run_group_member'];

/**
 * The online conversion of a legacy (unpartitioned) leaderboard of `runs` runs and 5 members
 * each, in a database of its own: prep, backfill, then the baseline (a single INSERT ... SELECT
 * per table into the empty partitioned twins, timed, rolled back, twins vacuumed), then fill
 * (batched copy + change replay + foreign keys) and swap (its lock hold).
 */
export async function runConversion(
  sql: postgres.Sql,
  db: AnyPgDatabase,
  runs: number,
): Promise<ConversionResult> {
  const target = builtInTarget('leaderboard');
  await step(`legacy leaderboard, ${runs} runs`, () =>
    buildLegacyLeaderboard(sql, { runs, seasons: 5, membersPerRun: 5 }),
  );
  await step('convert prep', () => convertPrep(db, target));
  await step('convert backfill', () => convertBackfill(db, target));
  const twin = twinSchema(target.family);
  let rows = 0;
  const started = performance.now();
  await sql
    .begin(async (tx) => {
      for (const table of TABLES) {
        const columns = await tx<{ name: string }[]>`
          SELECT attname AS name FROM pg_attribute
          WHERE attrelid = ${`${twin}.${table}`}::regclass AND attnum > 0 AND NOT attisdropped
          ORDER BY attnum`;
        const list = columns.map((c) => quoteIdent(c.name)).join(', ');
        const result = await tx.unsafe(
          `INSERT INTO ${quoteQualified(twin, table)} (${list}) SELECT ${list} FROM ${quoteQualified('public', table)}`,
        );
        rows += result.count;
      }
      throw new RollbackSignal();
    })
    .catch((error: unknown) => {
      if (!(error instanceof RollbackSignal)) throw error;
    });
  const naiveMs = performance.now() - started;
  console.log(`${'naive INSERT ... SELECT'.padEnd(34)} ${(naiveMs / 1000).toFixed(1)}s`);
  for (const table of TABLES) await sql.unsafe(`VACUUM ${quoteQualified(twin, table)}`);
  const fill = await step('convert fill', () => convertFill(db, target));
  const swap = await step('convert swap', () => convertSwap(db, target));
  const naiveRate = rows / (naiveMs / 1000);
  const fillRate = fill.rowsCopied / (fill.elapsedMs / 1000);
  return {
    runs,
    members: rows - runs,
    naiveCopyMs: Math.round(naiveMs),
    naiveRowsPerSecond: Math.round(naiveRate),
    fillRowsCopied: fill.rowsCopied,
    fillMs: Math.round(fill.elapsedMs),
    fillRowsPerSecond: Math.round(fillRate),
    fillVsNaive: Math.round((fillRate / naiveRate) * 100) / 100,
    swapLockHoldMs: Math.round(swap.lockHoldMs * 10) / 10,
    swapAttempts: swap.attempts,
    note: `fill: batches of the default size, ${fill.changesReplayed} changes replayed, foreign keys added after the copy; no concurrent writers`,
  };
}

class RollbackSignal extends Error {}
