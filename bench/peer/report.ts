import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { longestBlock, longestLatency, rowsLost, targetLines } from './targets.js';
import type { PeerCase, PeerReport, PeerRun } from './types.js';

const name = (r: PeerRun) => (r.variant ? `${r.tool} (${r.variant})` : r.tool);

/** Whom a writer's longest wait was behind, for a wait long enough to ask (20 ms or more). */
function behind(w: PeerRun['writers'][number]): string {
  if (w.maxLockWaitMs < 20 || !w.longestWaitBehind) return '';
  return ` (behind ${w.longestWaitBehind.replaceAll('|', '/')})`;
}

function writersCell(r: PeerRun): string {
  return r.writers
    .map(
      (w) =>
        `${w.name}: max ${w.maxLatencyMs} ms (p99 ${w.p99LatencyMs}), lock wait ${w.maxLockWaitMs} ms${behind(w)}, ${w.statements} inserts${w.errors ? `, **${w.errors} errors** (${w.firstError})` : ''}`,
    )
    .join('<br>');
}

function integrityCell(r: PeerRun): string {
  if (!r.integrity) return '';
  return r.integrity
    .map(
      (t) =>
        `${t.table} ${t.before} -> ${t.after}${t.checksumEqual ? ' (checksum equal)' : ' (**checksum differs**)'}`,
    )
    .join('<br>');
}

function caseTable(c: PeerCase): string[] {
  const lines = [
    `### ${c.title}`,
    '',
    '| tool | time ms | writers (statement latency; lock wait sampled from pg_locks) | rows of the month | load | how |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of c.runs) {
    const samples = r.samples ? ` (${r.samples.join(', ')})` : '';
    lines.push(
      `| ${name(r)} | ${r.ms}${samples} | ${writersCell(r)} | ${integrityCell(r)} | ${r.load} | ${r.note.replaceAll('|', '\\|')} |`,
    );
  }
  lines.push('', c.note, '');
  return lines;
}

function summary(r: PeerReport): string[] {
  const lines = [
    '| operation | pg_partman | pgparts | ratio (time) |',
    '| --- | --- | --- | --- |',
  ];
  for (const c of r.cases) {
    const pm = c.runs.find((x) => x.tool === 'pg_partman');
    for (const pp of c.runs.filter((x) => x.tool === 'pgparts')) {
      const cell = (x: PeerRun) => {
        const lost = x.integrity ? `, ${rowsLost(x)} rows lost` : '';
        return `${x.ms} ms; writers' longest lock wait ${longestBlock(x)} ms (latency ${longestLatency(x)} ms)${lost}`;
      };
      const ratio = pm && pm.ms > 0 ? (pp.ms / pm.ms).toFixed(2) : 'n/a';
      lines.push(
        `| ${c.title}${pp.variant ? ` (pgparts ${pp.variant})` : ''} | ${pm ? cell(pm) : 'n/a'} | ${cell(pp)} | ${ratio} |`,
      );
    }
  }
  return lines;
}

export function renderPeerMarkdown(r: PeerReport): string {
  const m = r.machine;
  const settings = Object.entries(r.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const targets = targetLines(r);
  return [
    `# pgparts vs pg_partman ${r.partmanVersion}: ${r.label} rows`,
    '',
    `${r.finishedAt} (commit ${r.commit}). PostgreSQL ${m.postgres} (the distribution's package), pg_partman ${r.partmanVersion}, Node ${m.node}, ${m.cores} cores (${m.cpu}), ${m.ramGiB} GiB RAM.`,
    `Server settings (PostgreSQL defaults, nothing tuned): ${settings}.`,
    `Load average (1/5/15 min) before ${r.loadAverage.before.join(' / ')}, after ${r.loadAverage.after.join(' / ')} (other work shares the machine).`,
    '',
    '## Summary',
    '',
    ...summary(r),
    '',
    '## Targets (issue 15)',
    '',
    '| figure | target | measured | met |',
    '| --- | --- | --- | --- |',
    ...targets.map(
      (t) =>
        `| ${t.figure} | ${t.target} | ${t.measured} | ${t.met === null ? 'n/a' : t.met ? 'met' : '**not met**'} |`,
    ),
    '',
    '## Cases',
    '',
    ...r.cases.flatMap(caseTable),
    '## Notes',
    '',
    ...r.notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}

export function writePeerReport(dir: string, report: PeerReport): string[] {
  mkdirSync(dir, { recursive: true });
  const base = `peer-pg_partman-${report.label}`;
  const files = [join(dir, `${base}.json`), join(dir, `${base}.md`)];
  writeFileSync(
    files[0] as string,
    `${JSON.stringify({ ...report, targets: targetLines(report) }, null, 2)}\n`,
  );
  writeFileSync(files[1] as string, renderPeerMarkdown(report));
  return files;
}
