import type { CaseId, PeerCase, PeerReport, PeerRun, Tool } from './types.js';

/** Issue 15's targets that the side-by-side measures, each met or not with its figure. */
export interface TargetLine {
  figure: string;
  target: string;
  measured: string;
  met: boolean | null;
}

const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : Number.NaN);

function run(c: PeerCase | undefined, tool: Tool, variant?: string): PeerRun | undefined {
  return c?.runs.find((r) => r.tool === tool && (variant === undefined || r.variant === variant));
}

/**
 * The longest any writer was blocked during a run, as the server saw it: its longest lock wait
 * in pg_locks. The writers' statement latency is reported next to it; on a loaded machine it
 * also holds CPU waits that no lock caused, so it is not what the targets judge.
 */
export function longestBlock(r: PeerRun): number {
  return Math.max(0, ...r.writers.map((w) => w.maxLockWaitMs));
}

/** The longest INSERT any writer saw (wall time, the app's view). */
export function longestLatency(r: PeerRun): number {
  return Math.max(0, ...r.writers.map((w) => w.maxLatencyMs));
}

export function rowsLost(r: PeerRun): number {
  return (r.integrity ?? []).reduce((sum, t) => sum + Math.max(0, t.before - t.after), 0);
}

export function targetLines(report: Pick<PeerReport, 'cases'>): TargetLine[] {
  const find = (id: CaseId) => report.cases.find((c) => c.id === id);
  const lines: TargetLine[] = [];
  const drain = find('drain');
  const pm = run(drain, 'pg_partman');
  for (const strategy of ['delete', 'swap']) {
    const pp = run(drain, 'pgparts', strategy);
    if (!pm || !pp) continue;
    const r = ratio(pp.ms, pm.ms);
    lines.push({
      figure: `drain: pgparts (${strategy}) time / pg_partman time`,
      target: '<= 0.5',
      measured: `${r} (${pp.ms} / ${pm.ms} ms)`,
      met: r <= 0.5,
    });
    lines.push({
      figure: `drain (${strategy}): longest block of any writer, jit at its default`,
      target: '<= 100 ms',
      measured: `${longestBlock(pp)} ms lock wait, ${longestLatency(pp)} ms latency (pg_partman ${longestBlock(pm)} / ${longestLatency(pm)} ms)`,
      met: longestBlock(pp) <= 100,
    });
  }
  const fk = find('foreign-key');
  const fkPp = run(fk, 'pgparts');
  if (fkPp) {
    lines.push({
      figure: 'foreign key ON DELETE CASCADE family: rows lost by pgparts',
      target: '0',
      measured: `${rowsLost(fkPp)} (pg_partman ${run(fk, 'pg_partman') ? rowsLost(run(fk, 'pg_partman') as PeerRun) : 'n/a'})`,
      met: rowsLost(fkPp) === 0 && (fkPp.integrity ?? []).every((t) => t.checksumEqual),
    });
  }
  const ratioLine = (id: CaseId, figure: string) => {
    const c = find(id);
    const a = run(c, 'pgparts');
    const b = run(c, 'pg_partman');
    if (!a || !b) return;
    const r = ratio(a.ms, b.ms);
    lines.push({
      figure,
      target: '<= 1.0',
      measured: `${r} (${a.ms} / ${b.ms} ms)`,
      met: r <= 1,
    });
  };
  ratioLine('noop-empty', 'no-op maintenance, one table, empty DEFAULT: pgparts / pg_partman');
  ratioLine('noop-default', 'no-op maintenance, rows in DEFAULT: pgparts / pg_partman');
  ratioLine('noop-six', 'no-op maintenance, 6 tables: pgparts / pg_partman');
  ratioLine('create-next', 'next month with stray rows in DEFAULT: pgparts / pg_partman');
  ratioLine('retention', 'retention of a month: time pgparts / pg_partman');
  const ret = find('retention');
  const retPp = run(ret, 'pgparts');
  const retPm = run(ret, 'pg_partman');
  if (retPp && retPm) {
    lines.push({
      figure: "retention of a month: writers' longest block",
      target: "<= pg_partman's",
      measured: `${longestBlock(retPp)} ms vs ${longestBlock(retPm)} ms lock wait (latency ${longestLatency(retPp)} vs ${longestLatency(retPm)} ms)`,
      met: longestBlock(retPp) <= longestBlock(retPm),
    });
  }
  return lines;
}
