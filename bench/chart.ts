import type { QueryResult } from './run-queries.js';

const esc = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Horizontal bars, two per query (p95 partitioned, p95 unpartitioned), on a log-free linear axis
 * capped at the largest value, with the query's target as a dashed mark. Plain SVG, no library.
 */
export function renderChart(title: string, results: readonly QueryResult[]): string {
  const labelWidth = 300;
  const plotWidth = 520;
  const rowHeight = 34;
  const top = 56;
  const height = top + results.length * rowHeight + 40;
  const width = labelWidth + plotWidth + 90;
  const maxValue = Math.max(
    1,
    ...results.flatMap((r) => [r.partitioned.p95, r.unpartitioned.p95, r.targetMs]),
  );
  const x = (v: number) => labelWidth + (v / maxValue) * plotWidth;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${labelWidth}" y="30" width="12" height="12" fill="#2b6cb0"/><text x="${labelWidth + 16}" y="40">partitioned p95</text>`,
    `<rect x="${labelWidth + 130}" y="30" width="12" height="12" fill="#dd6b20"/><text x="${labelWidth + 146}" y="40">unpartitioned p95</text>`,
    `<line x1="${labelWidth + 270}" y1="36" x2="${labelWidth + 290}" y2="36" stroke="#c53030" stroke-dasharray="4 3"/><text x="${labelWidth + 294}" y="40">target</text>`,
  ];
  results.forEach((r, i) => {
    const y = top + i * rowHeight;
    parts.push(`<text x="${labelWidth - 8}" y="${y + 17}" text-anchor="end">${esc(r.name)}</text>`);
    const bars: [number, string][] = [
      [r.partitioned.p95, '#2b6cb0'],
      [r.unpartitioned.p95, '#dd6b20'],
    ];
    bars.forEach(([value, color], j) => {
      const by = y + 3 + j * 13;
      parts.push(
        `<rect x="${labelWidth}" y="${by}" width="${Math.max(1, x(value) - labelWidth).toFixed(1)}" height="12" fill="${color}"/>`,
        `<text x="${(x(value) + 4).toFixed(1)}" y="${by + 10}" font-size="10">${value.toFixed(2)} ms</text>`,
      );
    });
    const tx = x(r.targetMs).toFixed(1);
    parts.push(
      `<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + 30}" stroke="#c53030" stroke-dasharray="4 3"/>`,
    );
  });
  const axisY = top + results.length * rowHeight + 8;
  parts.push(
    `<line x1="${labelWidth}" y1="${axisY}" x2="${labelWidth + plotWidth}" y2="${axisY}" stroke="#444"/>`,
  );
  for (let k = 0; k <= 4; k += 1) {
    const v = (maxValue * k) / 4;
    parts.push(
      `<text x="${x(v).toFixed(1)}" y="${axisY + 16}" text-anchor="middle" font-size="10">${v.toFixed(1)} ms</text>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
