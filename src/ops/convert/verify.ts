import { counted } from '../../define/counted.js';
import type { FamilySpec } from '../../define/spec.js';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { textLiteral } from '../../sql/literals.js';
import { rangeBucketSql, UTC_TIMEZONE_SQL } from '../../sql/range-bucket.js';
import { cols, readLayouts, type TableLayout } from './layout.js';
import { type Sides, sides } from './names.js';
import { formatPlan } from './planned.js';
import { describeAfterSwitch, pendingAfterSwitch } from './post-switch.js';
import type { ConvertStepResult } from './prep.js';
import { query } from './run-sql.js';
import { changesTable, reached, readState, recordVerify } from './state.js';
import {
  type ConversionTarget,
  parseOptions,
  type VerifyOptions,
  verifyOptionsSchema,
} from './target.js';

export interface GroupDifference {
  /** the partition key group: a season, a month (YYYY-MM-DD of its start) */
  key: string;
  legacy: { rows: number; checksum: string } | null;
  partitioned: { rows: number; checksum: string } | null;
}

export interface TableVerification {
  table: string;
  groups: number;
  legacyRows: number;
  partitionedRows: number;
  differences: GroupDifference[];
  sampled: number;
  /** keys of sampled rows missing or different on the other side (JSON) */
  sampleDifferences: string[];
  /**
   * Keys changed since the last replay (in the change log), left out on both sides: the replay
   * is about to make them equal. A table whose every row is left out was not compared at all,
   * and is no pass.
   */
  leftOut: number;
}

/** A table of the report none of whose rows was compared, because every one was left out. */
const nothingCompared = (t: TableVerification) =>
  t.leftOut > 0 && t.legacyRows === 0 && t.partitionedRows === 0;

export interface VerifyReport extends ConvertStepResult {
  ok: boolean;
  tables: TableVerification[];
  /** Work a swap or unswap left after its commit (never OK while there is some). */
  unfinished: string | null;
}

function groupExpression(family: FamilySpec): string {
  const p = family.partitionBy;
  const column = `s.${quoteIdent(p.column)}`;
  return p.strategy === 'list'
    ? `${column}::text`
    : `to_char(${rangeBucketSql(p.interval, column)}, 'YYYY-MM-DD')`;
}

/**
 * Keys changed since the copy (still in the log, either direction): excluded from both sides,
 * because they are the rows the replay or an unswap is about to reconcile. Everything else must
 * be identical. The verify transaction is REPEATABLE READ, so the log and both tables are read
 * at one instant even while writers go on.
 */
function excludedSql(family: FamilySpec, layout: TableLayout, s: Sides): string {
  const key = layout.partitionedKey;
  return `SELECT DISTINCT ${cols(key, 'k')} FROM ${changesTable} ch
    CROSS JOIN LATERAL (VALUES (ch.old_row), (ch.new_row)) img(j)
    CROSS JOIN LATERAL jsonb_populate_record(NULL::${quoteQualified(s.partitioned, layout.name)}, img.j) k
    WHERE ch.family = ${textLiteral(family.name)} AND ch.table_name = ${textLiteral(layout.name)} AND img.j IS NOT NULL`;
}

const notExcluded = (key: readonly string[]) =>
  `NOT EXISTS (SELECT 1 FROM excluded e WHERE ${key.map((c) => `e.${quoteIdent(c)} = s.${quoteIdent(c)}`).join(' AND ')})`;

function checksumSql(family: FamilySpec, layout: TableLayout, s: Sides, table: string): string {
  return `WITH excluded AS (${excludedSql(family, layout, s)})
SELECT ${groupExpression(family)} AS g, count(*)::text AS n,
       coalesce(sum(hashtextextended(ROW(${cols(layout.columns, 's')})::text, 0)), 0)::text AS h
FROM ${table} s WHERE ${notExcluded(layout.partitionedKey)} GROUP BY 1`;
}

function sampleSql(
  family: FamilySpec,
  layout: TableLayout,
  s: Sides,
  from: string,
  to: string,
  n: number,
) {
  const key = layout.partitionedKey;
  return `WITH excluded AS (${excludedSql(family, layout, s)}),
sample AS (SELECT ${cols(layout.columns, 's')} FROM ${from} s WHERE ${notExcluded(key)} ORDER BY random() LIMIT ${n})
SELECT (SELECT count(*) FROM sample)::int AS sampled,
       (SELECT array_agg(k) FROM (SELECT to_jsonb(x.*)::text AS k FROM (SELECT ${cols(key, 's')} FROM sample s
          WHERE NOT EXISTS (SELECT 1 FROM ${to} o WHERE ${key.map((c) => `o.${quoteIdent(c)} = s.${quoteIdent(c)}`).join(' AND ')}
                              AND ROW(${cols(layout.columns, 'o')})::text = ROW(${cols(layout.columns, 's')})::text)
          LIMIT 10) x) d) AS differences`;
}

/**
 * Step 5, verify: per table and per partition key (season, month), row counts and a checksum of
 * every row (sum of hashes of the row's text) on the legacy and the partitioned side, plus random
 * rows looked up one by one in both directions. `ok` is false on any difference; the CLI then
 * exits non-zero. The outcome is recorded: cleanup needs a passing verify after the swap.
 */
export async function convertVerify(
  db: AnyPgDatabase,
  target: ConversionTarget,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const opts = parseOptions(verifyOptionsSchema, 'verify', options);
  const family = target.family;
  const state = await readState(db, family);
  if (!reached(state, 'filled') || state?.step === 'cleaned') {
    throw new PgpartsError(
      'conversion-state',
      `pgparts: convert ${family.name} verify: the step is ${state?.step ?? 'not started'}; verify compares after fill and before cleanup`,
      { step: 'convert verify' },
    );
  }
  const s = sides(family, state?.step === 'swapped');
  const layouts = await readLayouts(db, target, s);
  if (opts.dryRun) {
    const shown = layouts.flatMap((l) => {
      const legacy = quoteQualified(s.legacy, l.name);
      const partitioned = quoteQualified(s.partitioned, l.name);
      return [
        { sql: checksumSql(family, l, s, legacy) },
        { sql: checksumSql(family, l, s, partitioned) },
        { sql: sampleSql(family, l, s, legacy, partitioned, opts.samples) },
        { sql: sampleSql(family, l, s, partitioned, legacy, opts.samples) },
      ];
    });
    return {
      family: family.name,
      step: 'verify',
      sql: formatPlan([{ sql: UTC_TIMEZONE_SQL }, ...shown]),
      dryRun: true,
      ok: true,
      tables: [],
      unfinished: null,
    };
  }
  const tables = await db.transaction(
    async (tx) => {
      const t = tx as unknown as AnyPgDatabase;
      // The groups are RANGE intervals cut on the UTC grid, whatever the session's TimeZone.
      await query(t, UTC_TIMEZONE_SQL);
      const out: TableVerification[] = [];
      for (const l of layouts) {
        const legacy = quoteQualified(s.legacy, l.name);
        const partitioned = quoteQualified(s.partitioned, l.name);
        type Group = { g: string; n: string; h: string };
        const [left0] = await query<{ n: number }>(
          t,
          `SELECT count(*)::int AS n FROM (${excludedSql(family, l, s)}) x`,
        );
        const a = await query<Group>(t, checksumSql(family, l, s, legacy));
        const b = await query<Group>(t, checksumSql(family, l, s, partitioned));
        const left = new Map(a.map((r) => [r.g, { rows: Number(r.n), checksum: r.h }]));
        const right = new Map(b.map((r) => [r.g, { rows: Number(r.n), checksum: r.h }]));
        const differences: GroupDifference[] = [];
        for (const key of new Set([...left.keys(), ...right.keys()])) {
          const x = left.get(key) ?? null;
          const y = right.get(key) ?? null;
          if (!x || !y || x.rows !== y.rows || x.checksum !== y.checksum) {
            differences.push({ key, legacy: x, partitioned: y });
          }
        }
        let sampled = 0;
        const sampleDifferences: string[] = [];
        if (opts.samples > 0) {
          for (const [from, to] of [
            [legacy, partitioned],
            [partitioned, legacy],
          ] as const) {
            const r = await query<{ sampled: number; differences: string[] | null }>(
              t,
              sampleSql(family, l, s, from, to, opts.samples),
            );
            sampled += Number(r[0]?.sampled ?? 0);
            sampleDifferences.push(...(r[0]?.differences ?? []));
          }
        }
        out.push({
          table: l.name,
          groups: new Set([...left.keys(), ...right.keys()]).size,
          legacyRows: a.reduce((sum, r) => sum + Number(r.n), 0),
          partitionedRows: b.reduce((sum, r) => sum + Number(r.n), 0),
          differences,
          sampled,
          sampleDifferences,
          leftOut: Number(left0?.n ?? 0),
        });
      }
      return out;
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
  const pending = pendingAfterSwitch(state);
  const unfinished = pending ? describeAfterSwitch(pending) : null;
  const ok =
    unfinished === null &&
    tables.every(
      (t) => t.differences.length === 0 && t.sampleDifferences.length === 0 && !nothingCompared(t),
    );
  await recordVerify(db, family, ok, state?.step === 'swapped');
  return { family: family.name, step: 'verify', sql: '', dryRun: false, ok, tables, unfinished };
}

/** The report as the CLI prints it: one line per table, then every difference. */
export function formatVerifyReport(report: VerifyReport): string {
  const unchecked = report.tables.filter(nothingCompared);
  const verdict = report.ok
    ? 'OK'
    : report.unfinished
      ? 'NOT FINISHED'
      : report.tables.some((t) => t.differences.length > 0 || t.sampleDifferences.length > 0)
        ? 'DIFFERENCES FOUND'
        : 'NOT COMPARED';
  const lines = [`verify ${report.family}: ${verdict}`];
  if (report.unfinished) {
    lines.push(
      `  the switch's work after its commit is unfinished: ${report.unfinished}; run convert ${report.family} swap (or --all) to finish it`,
    );
  }
  for (const t of report.tables) {
    lines.push(
      `  ${t.table}: ${counted(t.legacyRows, 'legacy row')}, ${counted(t.partitionedRows, 'partitioned row')}, ${counted(t.groups, 'key')}, ` +
        `${counted(t.differences.length, 'differing key')}, ${counted(t.sampled, 'sampled row')}, ${counted(t.sampleDifferences.length, 'differing sample')}` +
        (t.leftOut > 0
          ? `; ${counted(t.leftOut, 'row')} changed since the last replay left out`
          : ''),
    );
    for (const d of t.differences) {
      const side = (x: GroupDifference['legacy']) =>
        x ? `${x.rows} rows, checksum ${x.checksum}` : 'absent';
      lines.push(`    key ${d.key}: legacy ${side(d.legacy)}; partitioned ${side(d.partitioned)}`);
    }
    for (const k of t.sampleDifferences) lines.push(`    sampled row ${k} differs or is missing`);
  }
  for (const t of unchecked) {
    lines.push(
      `  ${t.table}: every row changed since the last replay, so none was compared: replay them ` +
        `(convert ${report.family} fill before the swap; after it they wait for an unswap), then verify again`,
    );
  }
  if (!report.ok && !report.unfinished && verdict === 'DIFFERENCES FOUND') {
    lines.push(
      'Do not clean up. Inspect the rows above; unswap restores the legacy tables if needed.',
    );
  }
  return lines.join('\n');
}
