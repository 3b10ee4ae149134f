import type { FamilyRuns, MaintenanceRun } from '../catalog/maintenance-runs.js';
import { formatMs } from './format.js';

function describeRun(run: MaintenanceRun): string {
  if (run.outcome === 'running') {
    return `started ${run.startedAt.toISOString()}, running now (it holds the maintenance lock)`;
  }
  if (run.outcome === 'interrupted') {
    return (
      `started ${run.startedAt.toISOString()} interrupted: it never finished (its connection was ` +
      'lost or its process ended), perhaps part-way through its steps; the next apply takes up ' +
      'what is left'
    );
  }
  const counts = `${run.stepsDone} done, ${run.stepsFailed} failed, ${run.stepsSkipped} skipped`;
  const error = run.error ? `: ${run.error}` : '';
  return `${run.finishedAt.toISOString()} ${run.outcome} (${counts}, ${formatMs(run.durationMs)})${error}`;
}

/** `status`'s lines on the recorded maintenance runs: the last run and the last success. */
export function formatMaintenanceRuns(runs: readonly FamilyRuns[]): string[] {
  if (runs.length === 0) return [];
  const lines = ['', 'maintenance runs (pgparts apply / maintain):'];
  for (const r of runs) {
    if (!r.lastRun) {
      lines.push(`  ${r.family}: no run recorded`);
      continue;
    }
    lines.push(`  ${r.family}: last run ${describeRun(r.lastRun)}`);
    if (r.lastSuccess !== r.lastRun && r.lastRun.outcome !== 'ok') {
      lines.push(
        `  ${r.family}: last success ${r.lastSuccess ? r.lastSuccess.finishedAt.toISOString() : 'never'}`,
      );
    }
  }
  return lines;
}
