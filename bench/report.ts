import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConversionResult } from './conversion.js';
import type { Scale } from './generate/scale.js';
import type { Machine } from './machine.js';
import type { MaintenanceResult } from './maintenance.js';
import type { QueryResult } from './run-queries.js';

export interface BenchReport {
  label: string;
  startedAt: string;
  finishedAt: string;
  commit: string;
  machine: Machine;
  settings: Record<string, string | number> | string;
  scale: Scale;
  rows: Record<string, [number, number]>;
  dataNow: string;
  iterations: number;
  timings: Record<string, number>;
  /** The custom-plan calls (unnamed statements, as Drizzle sends them). */
  queries: QueryResult[] | null;
  /** The same calls prepared (`prepare: true`), sessions on plan_cache_mode = force_generic_plan. */
  genericQueries?: QueryResult[] | null;
  maintenance: MaintenanceResult | null;
  conversion: ConversionResult | null;
  /** When and on what each section was measured (a partial run keeps the others' records). */
  measured?: Partial<
    Record<Section, { at: string; commit: string; killmails: number; jit?: string }>
  >;
  notes: string[];
}

export type Section = 'queries' | 'maintenance' | 'conversion';

const ms = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : v.toFixed(2));
const yes = (ok: boolean) => (ok ? 'yes' : '**no**');

function queryTable(results: readonly QueryResult[]): string[] {
  const lines = [
    '| query | prunes | partitioned p50 / p95 / p99 ms | unpartitioned p50 / p95 / p99 ms | p95 ratio | p95 target | p95 met | ratio <= 1.0 |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    const p = r.partitioned;
    const u = r.unpartitioned;
    lines.push(
      `| ${r.name} | ${r.prunes ? 'yes' : 'no'} | ${ms(p.p50)} / ${ms(p.p95)} / ${ms(p.p99)} | ${ms(u.p50)} / ${ms(u.p95)} / ${ms(u.p99)} | ${r.ratioP95.toFixed(2)} | ${r.targetMs} | ${yes(p.p95 <= r.targetMs)} | ${r.prunes ? yes(r.ratioP95 <= 1) : 'n/a'} |`,
    );
  }
  return lines;
}

/**
 * Both ways side by side: each side's p95 under custom and generic plans, the ratio of each way,
 * and the partitioned side's better way against the unpartitioned side's better way.
 */
function planComparisonTable(
  custom: readonly QueryResult[],
  generic: readonly QueryResult[],
): string[] {
  const lines = [
    '| query | prunes | partitioned p95 custom / generic ms | unpartitioned p95 custom / generic ms | ratio custom | ratio generic | ratio, each side its better way | ratio <= 1.0 (better ways) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of custom) {
    const g = generic.find((r) => r.name === c.name);
    if (!g) continue;
    const best = Math.min(c.partitioned.p95, g.partitioned.p95);
    const bestTwin = Math.min(c.unpartitioned.p95, g.unpartitioned.p95);
    const ratio = Math.round((best / bestTwin) * 100) / 100;
    lines.push(
      `| ${c.name} | ${c.prunes ? 'yes' : 'no'} | ${ms(c.partitioned.p95)} / ${ms(g.partitioned.p95)} | ${ms(c.unpartitioned.p95)} / ${ms(g.unpartitioned.p95)} | ${c.ratioP95.toFixed(2)} | ${g.ratioP95.toFixed(2)} | ${ratio.toFixed(2)} | ${c.prunes ? yes(ratio <= 1) : 'n/a'} |`,
    );
  }
  return lines;
}

function maintenanceTable(m: MaintenanceResult): string[] {
  const r = m.retention;
  const lines = [
    '| operation | figure | notes |',
    '| --- | --- | --- |',
    `| no-op apply | ${ms(m.noopApplyMs)} ms | ${m.noopApplyNote} |`,
    `| create one month (3 tables) | ${ms(m.createMonthMs)} ms | ${m.createMonthNote} |`,
    `| retention of one month: retireKey drop vs DELETE | ${ms(r.retireDropMs)} ms vs ${ms(r.deleteMs)} ms (ratio ${r.ratio}) | ${r.rowsRemoved} rows dropped (DETACH ${r.detach}), ${r.deleteRows} rows deleted; ${r.note} |`,
  ];
  for (const d of [m.drain, m.drainDelete]) {
    if (!d) continue;
    const how = d.strategy ? ` (${d.strategy})` : '';
    lines.push(
      `| drain ${d.rowsInDefault} rows out of DEFAULT${how} | ${d.rowsPerSecond} rows/s, max lock hold ${ms(d.maxLockHoldMs)} ms | ${d.rowsMoved} rows moved in ${ms(d.elapsedMs)} ms; ${d.note} |`,
    );
  }
  const x = m.indexReplacement;
  for (const c of x?.changes ?? []) {
    lines.push(
      `| change ${INDEX_CHANGED} on killmails_raw (${x?.rows} rows, ${x?.partitions} partitions): ${c.how} | ${ms(c.totalMs)} ms${c.swapMs === null ? '' : `, swap ${ms(c.swapMs)} ms`}; reader p50 / p95 / max ${c.readerP50Ms} / ${c.readerP95Ms} / ${c.readerMaxMs} ms | writers (2, an INSERT every 5 ms): longest INSERT ${c.writersLongestInsertMs} ms, longest lock wait ${c.writersLongestLockWaitMs} ms (pg_locks every 10 ms), ${c.writersInserts} inserts; reader: its query (ship_type_id = 587, newest 50) every 100 ms, ${c.readerCalls} calls |`,
    );
  }
  return lines;
}

const INDEX_CHANGED = 'idx_killmails_raw_ship_type_time';

function conversionTable(c: ConversionResult): string[] {
  return [
    '| operation | figure | notes |',
    '| --- | --- | --- |',
    `| naive INSERT ... SELECT (${c.runs} runs + ${c.members} members) | ${c.naiveRowsPerSecond} rows/s (${c.naiveCopyMs} ms) | one statement per table, one transaction |`,
    `| convert fill | ${c.fillRowsPerSecond} rows/s (${c.fillRowsCopied} rows, ${c.fillMs} ms); ${c.fillVsNaive}x the naive rate | ${c.note} |`,
    `| convert swap lock hold | ${ms(c.swapLockHoldMs)} ms | ${c.swapAttempts} attempt(s) |`,
  ];
}

export function renderMarkdown(r: BenchReport): string {
  const m = r.machine;
  const settings =
    typeof r.settings === 'string'
      ? r.settings
      : Object.entries(r.settings)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ');
  const counts = Object.entries(r.rows)
    .map(([t, [a]]) => `${t} ${a.toLocaleString('en-US')}`)
    .join(', ');
  const out = [
    `# pgparts benchmark: ${r.label}`,
    '',
    `${r.finishedAt} (commit ${r.commit}). Node ${m.node}, PostgreSQL ${m.postgres}, ${m.cores} cores (${m.cpu}), ${m.ramGiB} GiB RAM, ${m.platform}.`,
    `Server settings: ${settings}.`,
    `Rows (same on both sides): ${counts}; ${r.scale.characters + r.scale.corporations + r.scale.alliances + r.scale.systems} lookup names; ${r.scale.profiles} surveillance profiles. Data clock: ${r.dataNow}.`,
    '',
  ];
  if (r.queries) {
    out.push(
      `## Hot queries (${r.iterations} calls per query per side, app-side wall time through postgres.js)`,
      '',
      ...queryTable(r.queries),
      '',
    );
  }
  if (r.genericQueries) {
    out.push(
      '## Hot queries, prepared with generic plans',
      '',
      `The same calls with \`{ prepare: true }\` (named prepared statements) on sessions started with plan_cache_mode = force_generic_plan: planned once per session, partitions pruned when each call starts (trimRuns: see its notes).`,
      '',
      ...queryTable(r.genericQueries),
      '',
    );
    if (r.queries) {
      out.push(
        '### Custom and generic plans compared',
        '',
        ...planComparisonTable(r.queries, r.genericQueries),
        '',
      );
    }
  }
  if (r.maintenance) out.push('## Maintenance', '', ...maintenanceTable(r.maintenance), '');
  if (r.conversion)
    out.push('## Conversion (leaderboard, online)', '', ...conversionTable(r.conversion), '');
  out.push(
    '## Phases',
    '',
    Object.entries(r.timings)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
      .join('; '),
    '',
  );
  if (r.notes.length > 0) out.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

export function writeReport(dir: string, report: BenchReport, svg: string | null): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, `${report.label}.json`), join(dir, `${report.label}.md`)];
  writeFileSync(files[0] as string, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(files[1] as string, renderMarkdown(report));
  if (svg) {
    const file = join(dir, `${report.label}.svg`);
    writeFileSync(file, svg);
    files.push(file);
  }
  return files;
}
