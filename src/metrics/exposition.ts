/**
 * The Prometheus text exposition format (version 0.0.4), as the node exporter's textfile
 * collector and a scrape endpoint read it: per metric a `# HELP` and a `# TYPE` line, then its
 * samples, `name{label="value",...} value`. Escaping follows the format (and prom-client):
 * in HELP text `\` and newline; in label values `\`, `"` and newline. Pure.
 */

export interface Sample {
  labels: Readonly<Record<string, string>>;
  value: number;
}

export interface MetricFamily {
  /** [a-zA-Z_:][a-zA-Z0-9_:]* */
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'untyped';
  samples: readonly Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A sample value as the format writes it: Go float syntax, `+Inf`, `-Inf`, `NaN`. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** The text of `metrics`, each family once, its samples together; ends with a newline. */
export function renderExposition(metrics: readonly MetricFamily[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const metric of metrics) {
    if (!METRIC_NAME.test(metric.name)) throw new Error(`invalid metric name ${metric.name}`);
    if (seen.has(metric.name)) throw new Error(`metric ${metric.name} given twice`);
    seen.add(metric.name);
    lines.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`);
    lines.push(`# TYPE ${metric.name} ${metric.type}`);
    const labelSets = new Set<string>();
    for (const sample of metric.samples) {
      const labels = Object.entries(sample.labels).map(([name, value]) => {
        if (!LABEL_NAME.test(name) || name.startsWith('__')) {
          throw new Error(`invalid label name ${name}`);
        }
        return `${name}="${escapeLabelValue(value)}"`;
      });
      const labelText = labels.length > 0 ? `{${labels.join(',')}}` : '';
      if (labelSets.has(labelText)) throw new Error(`${metric.name}${labelText} given twice`);
      labelSets.add(labelText);
      lines.push(`${metric.name}${labelText} ${formatValue(sample.value)}`);
    }
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
