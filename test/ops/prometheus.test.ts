import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { operationsSetupSql } from '../../src/catalog/operations.js';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { prometheusMetrics } from '../../src/metrics/collect.js';
import {
  escapeLabelValue,
  type MetricFamily,
  renderExposition,
} from '../../src/metrics/exposition.js';
import { apply } from '../../src/run/apply.js';
import { pgparts } from '../cli/run-cli.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const families = [...builtInFamilies];

interface Parsed {
  name: string;
  help: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

/** `promtool check metrics` (Prometheus's own linter) on the text, when promtool is installed. */
function promtool(text: string): { available: boolean; status: number | null; output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (run.error) return { available: false, status: null, output: String(run.error) };
  return { available: true, status: run.status, output: `${run.stdout}${run.stderr}` };
}

/**
 * A strict reading of the exposition format: every line is a HELP, a TYPE or a sample of the
 * metric just declared, names and label syntax as the format allows, each metric declared once.
 */
function strictCheck(text: string): string[] {
  const problems: string[] = [];
  const declared = new Set<string>();
  let current = '';
  const sample =
    /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*")*\})? (NaN|[+-]Inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/;
  if (!text.endsWith('\n')) problems.push('no final newline');
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter|untyped)$/.exec(line);
    if (help?.[1]) {
      if (declared.has(help[1])) problems.push(`${help[1]} declared twice`);
      declared.add(help[1]);
      current = help[1];
    } else if (type?.[1]) {
      if (type[1] !== current) problems.push(`TYPE of ${type[1]} not after its HELP`);
    } else {
      const m = sample.exec(line);
      if (!m) problems.push(`not a valid sample line: ${line}`);
      else if (m[1] !== current) problems.push(`sample of ${m[1]} outside its metric`);
    }
  }
  return problems;
}

function value(parsed: Parsed[], name: string, labels: Record<string, string>): number {
  const metric = parsed.find((p) => p.name === name);
  const sample = metric?.metrics.find((s) =>
    Object.entries(labels).every(([k, v]) => s.labels?.[k] === v),
  );
  if (!sample) throw new Error(`no ${name} ${JSON.stringify(labels)}`);
  return Number(sample.value);
}

describe('status --format prometheus', () => {
  it('escapes label values and HELP text as the format says', () => {
    const metrics: MetricFamily[] = [
      {
        name: 'pgparts_x',
        help: 'a \\ back\nslash',
        type: 'gauge',
        samples: [{ labels: { table: 'a"b\\c\nd' }, value: Number.POSITIVE_INFINITY }],
      },
    ];
    const text = renderExposition(metrics);
    expect(text).toBe(
      '# HELP pgparts_x a \\\\ back\\nslash\n# TYPE pgparts_x gauge\npgparts_x{table="a\\"b\\\\c\\nd"} +Inf\n',
    );
    expect(escapeLabelValue('"')).toBe('\\"');
    expect(strictCheck(text)).toEqual([]);
    const parsed = parsePrometheusTextFormat(text) as Parsed[];
    expect(parsed[0]?.metrics[0]?.labels?.table).toBe('a"b\\c\nd');
    const lint = promtool(text);
    if (lint.available) expect(lint.status, lint.output).toBe(0);
  });

  it('prints every metric, parsed strictly, with the values the catalog holds', async () => {
    // History 30 months back (outside the 12 months kept), a season, a row in DEFAULT, an
    // invalid index, leftovers of a drain.
    const now = new Date();
    const past = addIntervals('month', intervalStart('month', now), -30);
    expect((await apply(t.db, { families, now: past })).ok).toBe(true);
    await t.sql`INSERT INTO season (id, name) VALUES (1, 'S1')`;
    expect((await apply(t.db, { families })).ok).toBe(true);
    // Season 2 arrives after the run: no partition yet, so its runs land in DEFAULT.
    await t.sql`INSERT INTO season (id, name) VALUES (2, 'S2')`;
    await t.sql`INSERT INTO leaderboard_run (season_id, run_guid) SELECT 2, gen_random_uuid() FROM generate_series(1, 5)`;
    await t.sql`CREATE INDEX pgparts_test_invalid ON ONLY leaderboard_run (season_id, id)`;
    await t.sql`CREATE TABLE killmails_raw_leftover (x int)`;
    await t.sql`COMMENT ON TABLE killmails_raw_leftover IS 'pgparts:drain-staging'`;
    await t.sql`ANALYZE`;

    const run = await pgparts(t.url, 'status', '--format', 'prometheus');
    expect(run.code, run.stderr).toBe(0);
    const text = run.stdout;
    expect(strictCheck(text)).toEqual([]);
    const lint = promtool(text);
    if (lint.available) expect(lint.status, lint.output).toBe(0);
    expect(text).toBe(
      await prometheusMetrics(t.db, families).then((api) => replaceSeconds(api, text)),
    );
    const parsed = parsePrometheusTextFormat(text) as Parsed[];
    expect(parsed.map((p) => p.name).every((n) => n.startsWith('pgparts_'))).toBe(true);
    // The README's alerting rules use exactly these metrics, and promtool accepts them.
    const rules = readFileSync('examples/prometheus-alerts.yml', 'utf8');
    const used = [...new Set(rules.match(/pgparts_[a-z_]+/g))].sort();
    expect(used).toEqual(parsed.map((p) => p.name).sort());
    const checked = spawnSync('promtool', ['check', 'rules', 'examples/prometheus-alerts.yml'], {
      encoding: 'utf8',
    });
    if (!checked.error) expect(checked.status, checked.stdout + checked.stderr).toBe(0);
    expect(parsed.every((p) => p.type === 'GAUGE' && p.help.length > 0)).toBe(true);

    // partitions ahead: lower bound after now, per the catalog.
    for (const table of ['killmails_raw', 'killmails_enriched', 'killmail_participants']) {
      const [ahead] = await t.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = ${table}::regclass
          AND substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''([^'']+)''\\)')::timestamptz > now()`;
      expect(value(parsed, 'pgparts_partitions_ahead', { table })).toBe(ahead?.n);
      // retention backlog: partitions wholly before the first month kept.
      const cutoff = addIntervals('month', intervalStart('month', now), -12);
      const [old] = await t.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = ${table}::regclass
          AND substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''([^'']+)''\\)')::timestamptz <= ${cutoff.toISOString()}::timestamptz`;
      expect(old?.n).toBeGreaterThan(0);
      expect(value(parsed, 'pgparts_retention_backlog_partitions', { table })).toBe(old?.n);
    }
    // DEFAULT rows: reltuples of the DEFAULT partition.
    const [def] = await t.sql<{ name: string; n: number }[]>`
      SELECT c.relname AS name, c.reltuples::float8 AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'leaderboard_run'::regclass AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'`;
    expect(def?.n).toBe(5);
    expect(value(parsed, 'pgparts_default_partition_rows', { table: 'leaderboard_run' })).toBe(
      def?.n,
    );
    // invalid indexes, over the parent and its partitions.
    const [invalid] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_partition_tree('leaderboard_run') p
      JOIN pg_index x ON x.indrelid = p.relid WHERE NOT x.indisvalid`;
    expect(invalid?.n).toBe(1);
    expect(value(parsed, 'pgparts_invalid_indexes', { table: 'leaderboard_run' })).toBe(1);
    expect(value(parsed, 'pgparts_invalid_indexes', { table: 'killmails_raw' })).toBe(0);
    expect(value(parsed, 'pgparts_pending_detaches', { table: 'leaderboard_run' })).toBe(0);
    // A drain's table left with no operation recorded: the one "unrecorded" leftover status names.
    expect(
      value(parsed, 'pgparts_unfinished_operations', { family: 'killmails', state: 'unrecorded' }),
    ).toBe(1);
    for (const state of ['interrupted', 'running', 'unrecorded']) {
      expect(value(parsed, 'pgparts_unfinished_operations', { family: 'leaderboard', state })).toBe(
        0,
      );
    }
    // seconds since the last success: at most the server's now minus the recorded finish.
    const [since] = await t.sql<{ s: number }[]>`
      SELECT extract(epoch FROM now() - max(finished_at))::float8 AS s
      FROM pgparts_maintenance_runs WHERE family = 'leaderboard' AND outcome = 'ok'`;
    const seconds = value(parsed, 'pgparts_seconds_since_last_successful_maintenance', {
      family: 'leaderboard',
    });
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(seconds).toBeLessThanOrEqual(since?.s ?? -1);
  });

  it('counts the operations recorded in pgparts_operations, as status shows them', async () => {
    for (const statement of operationsSetupSql('public')) await t.sql.unsafe(statement);
    await t.sql`DELETE FROM pgparts_operations`;
    await t.sql`
      INSERT INTO pgparts_operations (family, key, operation, phase, detail) VALUES
        ('leaderboard', '7', 'drain', 'copied', NULL),
        ('leaderboard', '8', 'retire', 'detached', 'drop'),
        ('leaderboard', '9', 'reattach', 'moved', NULL),
        ('killmails', '2020-01', 'retire', 'detached', 'archive')`;
    // Key 9's lock held by another session: that operation is running, not interrupted.
    const holder = t.connect({ max: 1 });
    await holder`SELECT pg_advisory_lock(hashtext('pgparts:key:public.leaderboard'), hashtext('9'))`;
    try {
      const run = await pgparts(t.url, 'status', '--format', 'prometheus');
      expect(run.code, run.stderr).toBe(0);
      expect(strictCheck(run.stdout)).toEqual([]);
      const parsed = parsePrometheusTextFormat(run.stdout) as Parsed[];
      const json = await pgparts(t.url, 'status', '--json');
      const report = JSON.parse(json.stdout) as {
        families: {
          family: string;
          unfinished: { operations: { key: string; running: boolean }[] };
        }[];
      };
      // The catalog, read here by hand, against both outputs.
      const rows = await t.sql<{ family: string; running: boolean }[]>`
        SELECT o.family, EXISTS (
                 SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND l.classid::bigint = (hashtext('pgparts:key:public.' || o.family)::bigint & 4294967295)
                   AND l.objid::bigint = (hashtext(o.key)::bigint & 4294967295)) AS running
        FROM pgparts_operations o`;
      for (const family of ['leaderboard', 'killmails']) {
        const mine = rows.filter((r) => r.family === family);
        const running = mine.filter((r) => r.running).length;
        const shown = report.families.find((f) => f.family === family)?.unfinished.operations;
        expect(shown?.length).toBe(mine.length);
        expect(shown?.filter((op) => op.running).length).toBe(running);
        expect(value(parsed, 'pgparts_unfinished_operations', { family, state: 'running' })).toBe(
          running,
        );
        expect(
          value(parsed, 'pgparts_unfinished_operations', { family, state: 'interrupted' }),
        ).toBe(mine.length - running);
        // Recorded operations: the drain's leftover table is theirs, not "unrecorded".
        expect(
          value(parsed, 'pgparts_unfinished_operations', { family, state: 'unrecorded' }),
        ).toBe(0);
      }
      expect(
        value(parsed, 'pgparts_unfinished_operations', {
          family: 'leaderboard',
          state: 'interrupted',
        }),
      ).toBe(2);
      expect(
        value(parsed, 'pgparts_unfinished_operations', { family: 'leaderboard', state: 'running' }),
      ).toBe(1);
      const text = await pgparts(t.url, 'status');
      expect(text.stdout).toContain('operation: reattach of 9, phase moved, started');
      expect(text.stdout).toContain('an interrupted retire of 8 (phase detached');
    } finally {
      await holder.end();
    }
  });
});

/** The API's text with its seconds-since samples taken from the CLI's (the clocks differ). */
function replaceSeconds(api: string, cli: string): string {
  const seconds = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('pgparts_seconds_since_last_successful_maintenance{'));
  let out = api;
  seconds(api).forEach((line, i) => {
    out = out.replace(line, seconds(cli)[i] ?? line);
  });
  return out;
}
