import type { PartitionInfo } from '../catalog/inspect.js';
import { keyLabel } from '../define/partition-key.js';
import { isPausedConversion } from '../plan/conversion-pause.js';
import type { Notice, Plan, Step } from '../plan/plan.js';
import type { StatusReport } from '../plan/status.js';
import type { ApplyResult, StepResult } from '../run/apply.js';

/** Text the CLI prints. Kept apart from the commands so tests can read it as a user would. */

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** JSON with dates as ISO strings (what JSON.stringify does) and two-space indentation. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

function table(rows: string[][], indent: string): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map(
    (row) =>
      indent +
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
  );
}

function stepTitle(step: Step): string {
  const what =
    step.kind === 'create'
      ? `create ${step.partitions.join(', ')}`
      : `${step.kind} ${step.family} ${step.label} (${step.partitions.join(', ')})`;
  return step.destructive ? `${what}  [destructive]` : what;
}

/** Statements as SQL text, each ended by `;`; one that is only a comment (a refusal) gets none. */
export function formatStatements(statements: readonly string[], indent: string): string[] {
  return statements.map((statement) =>
    statement.split('\n').every((line) => line.startsWith('--'))
      ? `${indent}${statement}`
      : `${indent}${statement};`,
  );
}

export function formatStep(step: Step, index: number): string[] {
  const lines = [`${index + 1}. ${stepTitle(step)}`, `   why: ${step.reason}`];
  for (const statement of step.prepare ?? [])
    lines.push(`   ${statement};  -- its own transaction`);
  if (step.prepare?.length) lines.push('   -- then, in one transaction:');
  lines.push(...formatStatements(step.sql, '   '));
  for (const statement of step.cleanup ?? []) lines.push(`   -- if the step fails: ${statement};`);
  return lines;
}

export function formatNotices(notices: Notice[]): string[] {
  if (notices.length === 0) return [];
  return ['', 'notices:', ...notices.map((n) => `  [${n.severity}] ${n.family}: ${n.message}`)];
}

export function formatPlan(planned: Plan, heading: string): string[] {
  const lines = [heading];
  if (planned.steps.length === 0) {
    lines.push('', 'nothing to do: every declared partition exists');
  } else {
    lines.push('', `${planned.steps.length} step(s), in order:`, '');
    planned.steps.forEach((step, i) => {
      lines.push(...formatStep(step, i));
    });
  }
  lines.push(...formatNotices(planned.notices));
  return lines;
}

function rowsCell(p: PartitionInfo): string {
  const estimate = p.estimatedRows === null ? '?' : `~${Math.round(p.estimatedRows)}`;
  if (!p.defaultRows) return estimate;
  if (p.defaultRows.exact) {
    const total = p.defaultRows.exact.total;
    return `${total}${total > 0 ? '  <- not empty' : ''}`;
  }
  return p.defaultRows.hasRows ? `${estimate}  <- not empty` : '0';
}

function sizeCell(bytes: number | null): string {
  return bytes === null ? '?' : formatBytes(bytes);
}

function holdsCell(p: PartitionInfo): string {
  if (p.isDefault) return 'DEFAULT';
  return p.key ? keyLabel(p.key) : p.bound;
}

/**
 * The status report as text; `notRead` families (their tables could not be read) are printed by
 * the caller, after it, and keep the last line from saying all is well.
 */
export function formatStatus(report: StatusReport, heading: string, notRead = 0): string[] {
  const lines = [heading];
  for (const family of report.families) {
    lines.push('', `${family.family}: ${family.description}`);
    for (const t of family.tables) {
      const size = t.bytes === null ? '' : `, ${formatBytes(t.bytes)}`;
      lines.push(`  ${t.table}: ${t.partitions.length} partition(s)${size}`);
      const rows = [['partition', 'holds', 'size', 'rows', '']];
      for (const p of t.partitions) {
        rows.push([
          p.name,
          holdsCell(p),
          sizeCell(p.bytes),
          rowsCell(p),
          [p.managed ? '' : '(not pgparts)', p.detachPending ? '(detach pending)' : '']
            .filter(Boolean)
            .join(' '),
        ]);
      }
      lines.push(...table(rows, '    '));
      if (t.firstUncovered)
        lines.push(`    first uncovered interval: ${keyLabel(t.firstUncovered)}`);
    }
    if (family.pending.length > 0) {
      lines.push(`  pending: ${family.pending.map((s) => stepTitle(s)).join('; ')}`);
    }
    if (family.retentionCandidates.length > 0) {
      lines.push(
        `  retention candidates: ${family.retentionCandidates
          .map((s) => `${s.label} (${s.partitions.join(', ')})`)
          .join('; ')}`,
      );
    }
    for (const op of family.unfinished.operations) {
      lines.push(
        `  operation: ${op.operation} of ${op.key}, phase ${op.phase}, started ${op.startedAt.toISOString()}` +
          (op.running ? ' (running)' : isPausedConversion(op) ? ' (paused)' : ' (interrupted)'),
      );
    }
    if (family.unfinished.captureTriggers.length > 0) {
      lines.push(
        `  capture triggers on ${family.unfinished.captureTriggers.join(', ')}; change log ${family.unfinished.changeLogRows} row(s)`,
      );
    }
    if (family.unfinished.drainTables.length > 0) {
      lines.push(
        `  drain tables: ${family.unfinished.drainTables.map((t) => `${t.name} (${t.role})`).join(', ')}`,
      );
    }
    for (const notice of family.notices) lines.push(`  [${notice.severity}] ${notice.message}`);
  }
  lines.push('');
  const unread = `${notRead} family(ies) could not be read (below)`;
  if (report.attention.length === 0) {
    lines.push(
      notRead > 0
        ? `${unread}; nothing needs attention in the others`
        : 'all well: nothing needs attention',
    );
  } else {
    lines.push(`${report.attention.length} thing(s) need attention:`);
    for (const item of report.attention) lines.push(`  - ${item}`);
    if (notRead > 0) lines.push(`  and ${unread}`);
  }
  return lines;
}

export function formatResult(result: StepResult): string {
  const outcome =
    result.outcome === 'done'
      ? `done (${formatMs(result.ms)}${result.attempts > 1 ? `, ${result.attempts} attempts` : ''})`
      : `${result.outcome}: ${result.message ?? ''}`;
  return `${stepTitle(result.step)}: ${outcome}${result.outcome === 'done' && result.message ? ` ${result.message}` : ''}`;
}

export function formatSummary(result: ApplyResult): string[] {
  if (result.status === 'locked') {
    return [
      result.lockHolderPid
        ? `another pgparts run holds the maintenance lock (backend pid ${result.lockHolderPid}); nothing done`
        : 'another pgparts run held the maintenance lock (it let go of it as this run looked); nothing done',
      // Every app that maintains with pgparts on this database takes the same lock by default.
      '  (an app sharing this database with families of its own gives its runs their own --lock-key)',
    ];
  }
  const lines = [
    `${result.done} done, ${result.skipped} skipped, ${result.failed} failed in ${formatMs(result.elapsedMs)}`,
  ];
  for (const warning of result.warnings) lines.push(`warning: ${warning}`);
  return lines;
}
