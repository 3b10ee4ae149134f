import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/migrations/generate.js';
import { readJournal } from '../../src/migrations/journal.js';
import { migrate } from '../../src/migrations/migrate.js';
import { fixtureApp } from '../support/fixture-app.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * examples/app/drizzle is committed, as an app's repository would have it: `pgparts generate
 * --check` (the app's `db:check`, its CI guard) passes on it, and it migrates a fresh database.
 * After a change to examples/app's schema or specs: `npm run db:generate` there (or in a copy
 * with node_modules) and commit the new files.
 */
const app = fixtureApp({ withMigrations: true });
afterAll(() => app.remove());
const db = useTestDatabase({ migrated: false });
/** A fresh database for the folder as the last test leaves it. */
const again = useTestDatabase({ migrated: false });

describe('examples/app/drizzle', { timeout: 300_000 }, () => {
  it('is what pgparts generate writes from the example schema and specs', async () => {
    const check = await generate({ cwd: app.dir, config: 'pgparts.config.ts', check: true });
    expect(check.stale).toEqual([]);
    expect(check.written).toEqual([]);
  });

  it('migrates a fresh database', async () => {
    const out = `${app.dir}/drizzle`;
    const result = await migrate(db.db, { appFolder: out });
    expect(result.applied.map((a) => a.name)).toEqual(readJournal(out).map((e) => e.tag));
    const [parents] = await db.sql`
      SELECT count(*)::int AS n FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
      WHERE c.relname IN ('app_events', 'region_orders')`;
    expect(parents?.n).toBe(2);
  });

  it('a renamed column: generate stops with what to do (drizzle-kit cannot ask), writes nothing', async () => {
    const schema = join(app.dir, 'src', 'schema.ts');
    const text = readFileSync(schema, 'utf8');
    const folder = () => {
      const out = join(app.dir, 'drizzle');
      return readdirSync(out, { recursive: true, encoding: 'utf8' })
        .sort()
        .map((f) => [
          f,
          f.endsWith('.json') || f.endsWith('.sql') ? readFileSync(join(out, f), 'utf8') : '',
        ]);
    };
    const before = folder();
    writeFileSync(
      schema,
      text.replace("displayName: text('displayName')", "fullName: text('fullName')"),
    );
    try {
      expectPgpartsError(
        await rejection(generate({ cwd: app.dir, config: 'pgparts.config.ts' })),
        'migration',
        {
          message:
            /drizzle-kit needs to ask whether something was renamed .* only ask in a terminal; nothing was written/,
        },
      );
      expect(folder()).toEqual(before);
    } finally {
      writeFileSync(schema, text);
    }
  });
  it('a family removed from the config and put back: generate writes nothing for it, and --check passes', async () => {
    const config = join(app.dir, 'pgparts.config.ts');
    const text = readFileSync(config, 'utf8');
    const start = text.indexOf("  partitionFamily({\n    name: 'region_orders'");
    const end = text.indexOf('  }),\n', start) + '  }),\n'.length;
    expect(start).toBeGreaterThan(0);
    writeFileSync(config, text.slice(0, start) + text.slice(end));
    try {
      const removed = await generate({ cwd: app.dir, config: 'pgparts.config.ts' });
      expect(removed.written).toEqual([]);
    } finally {
      writeFileSync(config, text);
    }
    // Its table was created partitioned as it says, with its first partitions: nothing to add.
    const back = await generate({ cwd: app.dir, config: 'pgparts.config.ts' });
    expect(back.written).toEqual([]);
    const check = await generate({ cwd: app.dir, config: 'pgparts.config.ts', check: true });
    expect(check.stale).toEqual([]);
  });

  it('a partitioned table dropped by a migration, then declared again with another interval: created partitioned anew', async () => {
    const config = join(app.dir, 'pgparts.config.ts');
    const schema = join(app.dir, 'src', 'schema.ts');
    const configText = readFileSync(config, 'utf8');
    const schemaText = readFileSync(schema, 'utf8');
    const familyStart = configText.indexOf("  partitionFamily({\n    name: 'app_events'");
    const familyEnd = configText.indexOf('  }),\n', familyStart) + '  }),\n'.length;
    const tableStart = schemaText.indexOf('export const appEvents = pgTable(');
    const tableEnd = schemaText.indexOf('\n);\n', tableStart) + '\n);\n'.length;
    expect(familyStart).toBeGreaterThan(0);
    expect(tableStart).toBeGreaterThan(0);
    try {
      // The family and its table gone: drizzle-kit's migration drops the table.
      writeFileSync(
        config,
        (configText.slice(0, familyStart) + configText.slice(familyEnd)).replace(
          'import { appEvents, regionOrders }',
          'import { regionOrders }',
        ),
      );
      writeFileSync(schema, schemaText.slice(0, tableStart) + schemaText.slice(tableEnd));
      const dropped = await generate({ cwd: app.dir, config: 'pgparts.config.ts' });
      expect(dropped.written).toHaveLength(1);
      expect(readFileSync(join(app.dir, 'drizzle', `${dropped.written[0]}.sql`), 'utf8')).toMatch(
        /DROP TABLE "app_events" CASCADE;/,
      );
    } finally {
      writeFileSync(schema, schemaText);
      // Back, weekly instead of daily: a new table, so a new interval is no change of one.
      writeFileSync(config, configText.replace("interval: 'day'", "interval: 'week'"));
    }
    try {
      const back = await generate({ cwd: app.dir, config: 'pgparts.config.ts' });
      const texts = back.written.map((tag) =>
        readFileSync(join(app.dir, 'drizzle', `${tag}.sql`), 'utf8'),
      );
      expect(texts.join('\n')).toMatch(
        /CREATE TABLE "app_events" \([\s\S]*?\n\) PARTITION BY RANGE \("occurredAt"\);/,
      );
      expect(texts.join('\n')).toMatch(/date_trunc\('week'/);
      const check = await generate({ cwd: app.dir, config: 'pgparts.config.ts', check: true });
      expect(check.stale).toEqual([]);
      // A fresh database gets the table partitioned, its partitions weekly.
      await migrate(again.db, { appFolder: join(app.dir, 'drizzle') });
      const [table] = await again.sql<{ kind: string; partitions: number; week: boolean }[]>`
        SELECT c.relkind::text AS kind,
               (SELECT count(*)::int FROM pg_inherits WHERE inhparent = c.oid) AS partitions,
               (SELECT bool_and(substring(b FROM 'TO \\(''([^'']+)''')::timestamptz
                                - substring(b FROM 'FROM \\(''([^'']+)''')::timestamptz = interval '7 days')
                  FROM (SELECT pg_get_expr(p.relpartbound, p.oid) AS b FROM pg_inherits i
                        JOIN pg_class p ON p.oid = i.inhrelid WHERE i.inhparent = c.oid) bounds) AS week
        FROM pg_class c WHERE c.oid = 'app_events'::regclass`;
      expect(table).toMatchObject({ kind: 'p', week: true });
      expect(table?.partitions).toBeGreaterThan(1);
    } finally {
      writeFileSync(config, configText);
    }
  });
});
