import { describe, expect, it } from 'vitest';
import { captureFunction, stateSchemaSql } from '../../src/ops/convert/state.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

describe('the conversion change log', () => {
  it('keeps a double precision value exact when the writer rounds floats (extra_float_digits < 1)', async () => {
    for (const statement of stateSchemaSql()) await t.sql.unsafe(statement);
    await t.sql.unsafe(`
      CREATE TABLE readings (id int PRIMARY KEY, v double precision);
      CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON readings
        FOR EACH ROW EXECUTE FUNCTION ${captureFunction}('readings', 'forward', 'readings')`);
    const writer = await t.connect({ max: 1 }).reserve();
    try {
      // A session that prints 15 significant digits, as an old client might ask for.
      await writer.unsafe('SET extra_float_digits = 0');
      await writer.unsafe('INSERT INTO readings VALUES (1, 0.1::float8 + 0.2::float8)');
      const [printed] = await writer.unsafe<{ v: string }[]>('SELECT v::text AS v FROM readings');
      expect(printed?.v).toBe('0.3');
    } finally {
      writer.release();
    }
    const [logged] = await t.sql<{ exact: boolean }[]>`
      SELECT (new_row->>'v')::float8 = 0.1::float8 + 0.2::float8 AS exact
      FROM pgparts_convert.changes WHERE table_name = 'readings'`;
    expect(logged?.exact).toBe(true);
  });
});
