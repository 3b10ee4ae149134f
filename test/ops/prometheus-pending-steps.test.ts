import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { prometheusMetrics } from '../../src/metrics/collect.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { pgparts } from '../cli/run-cli.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

const regionsOf = (values: string[]) =>
  parseFamily({
    name: 'region_orders',
    tables: ['region_orders'],
    defaultPartition: true,
    partitionBy: { strategy: 'list', column: 'region', values },
  });

interface Parsed {
  name: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

/** pgparts_pending_steps of region_orders, by kind. */
async function pendingSteps(values: string[]): Promise<Record<string, number>> {
  const parsed = parsePrometheusTextFormat(
    await prometheusMetrics(t.db, [regionsOf(values)]),
  ) as Parsed[];
  const metric = parsed.find((p) => p.name === 'pgparts_pending_steps');
  return Object.fromEntries(
    (metric?.metrics ?? [])
      .filter((m) => m.labels?.family === 'region_orders' && m.labels.schema === 'public')
      .map((m) => [m.labels?.kind, Number(m.value)]),
  );
}

beforeAll(async () => {
  await t.sql.unsafe(
    `CREATE TABLE region_orders (id bigint NOT NULL, region text NOT NULL, PRIMARY KEY (id, region))
       PARTITION BY LIST (region);
     CREATE TABLE region_orders_default PARTITION OF region_orders DEFAULT`,
  );
  expect((await apply(t.db, { families: [regionsOf(['eu-west', 'us-east'])] })).ok).toBe(true);
});

describe('pgparts_pending_steps', () => {
  it('is 0 for every kind after a healthy apply', async () => {
    expect(await pendingSteps(['eu-west', 'us-east'])).toEqual({
      create: 0,
      drain: 0,
      'finalize-detach': 0,
    });
  });

  it('counts a declared LIST value without its partition, as status --check does', async () => {
    // A region announced in the spec, DEFAULT empty: status --check fails, and so must a metric.
    const values = ['eu-west', 'us-east', 'me-central'];
    const report = status([regionsOf(values)], await inspect(t.db, [regionsOf(values)]));
    const creates = report.families[0]?.pending.filter((s) => s.kind === 'create').length;
    expect(creates).toBe(1);
    expect(await pendingSteps(values)).toEqual({ create: 1, drain: 0, 'finalize-detach': 0 });
    // Its rows arrive in DEFAULT first: a drain instead.
    await t.sql`INSERT INTO region_orders VALUES (1, 'me-central')`;
    expect(await pendingSteps(values)).toEqual({ create: 0, drain: 1, 'finalize-detach': 0 });
    const applied = await apply(t.db, { families: [regionsOf(values)] });
    expect(applied.ok, JSON.stringify(applied.results)).toBe(true);
    expect(await pendingSteps(values)).toEqual({ create: 0, drain: 0, 'finalize-detach': 0 });
  });

  it('is printed by status --format prometheus with HELP and TYPE gauge', async () => {
    const run = await pgparts(t.url, 'status', '--format', 'prometheus');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /^# HELP pgparts_pending_steps .+\n# TYPE pgparts_pending_steps gauge$/m,
    );
  });
});
