import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { plan } from '../../src/plan/plan.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A value taken out of a LIST spec keeps its partitions (pgparts removes none a spec stops
 * naming); status says so, with the command that removes them, and does not fail --check on it.
 */
const spec = (values: number[]) =>
  parseFamily({
    name: 'work',
    tables: ['projects', 'tasks'],
    partitionBy: { strategy: 'list', column: 'tenant_id', values },
    defaultPartition: true,
  });

describe('a LIST value the spec no longer names', () => {
  it('keeps its partitions; status says so, and how to remove them', async () => {
    await t.sql.unsafe(`
      CREATE TABLE projects (id bigint NOT NULL, tenant_id int NOT NULL, PRIMARY KEY (id, tenant_id))
        PARTITION BY LIST (tenant_id);
      CREATE TABLE tasks (id bigint NOT NULL, tenant_id int NOT NULL, project_id bigint NOT NULL,
        PRIMARY KEY (id, tenant_id),
        FOREIGN KEY (project_id, tenant_id) REFERENCES projects (id, tenant_id))
        PARTITION BY LIST (tenant_id);`);
    expect((await apply(t.db, { families: [spec([1, 2, 3])] })).failed).toBe(0);

    const fewer = spec([1, 2]);
    const snapshot = await inspect(t.db, [fewer]);
    expect(plan([fewer], snapshot, snapshot.takenAt).steps).toEqual([]);
    const report = status([fewer], snapshot, snapshot.takenAt);
    const notices = report.families[0]?.notices.filter((n) => n.kind === 'undeclared-value');
    expect(notices).toEqual([
      {
        family: 'work',
        severity: 'info',
        kind: 'undeclared-value',
        table: 'projects',
        partition: 'projects_s3',
        message:
          "3 is not among the spec's values; its partitions (projects_s3, tasks_s3) stay as they " +
          'are: `pgparts retire projects 3` removes them',
      },
    ]);
    expect(report.attention).toEqual([]);
    // Named again, nothing to say.
    const all = spec([1, 2, 3]);
    const named = status([all], await inspect(t.db, [all]), snapshot.takenAt);
    expect(named.families[0]?.notices.filter((n) => n.kind === 'undeclared-value')).toEqual([]);
  });
});
