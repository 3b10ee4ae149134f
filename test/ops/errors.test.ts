import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { loadFamilies } from '../../src/cli/config.js';
import { killsWithEnrichment, latestKillmails } from '../../src/domains/killmails/index.js';
import { topRuns } from '../../src/domains/leaderboard/index.js';
import { isPgpartsError, PgpartsError } from '../../src/errors.js';
import { jsonBoundsProblem } from '../../src/query/input.js';
import { pgparts, pgpartsIn, REPO_ROOT } from '../cli/run-cli.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/** The error a promise rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<PgpartsError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PgpartsError) return error;
    throw new Error(`expected a PgpartsError, got ${String(error)}`);
  }
  throw new Error('expected a rejection');
}

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < depth; i += 1) value = { a: value };
  return value;
}

describe('config errors name the config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgparts-config-'));
  /** `pgparts <command> --config <config>` in `dir`, against a server that is not there. */
  const withConfig = (command: string[], config: string) =>
    pgpartsIn(dir, 'postgres://nobody@127.0.0.1:1/none', ...command, '--config', config);

  it('a JSON syntax error', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ "families": [ { "name": "x", } ] }');
    const error = await rejection(loadFamilies(file));
    expect(error.code).toBe('invalid-config');
    expect(error.message).toContain(`config file ${file} is not valid JSON`);
    const run = await pgparts('postgres://nobody@127.0.0.1:1/none', '--config', file, 'plan');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`config file ${file} is not valid JSON`);
  });

  it('an invalid spec, a module that throws, and a missing export', async () => {
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify({ families: [{ name: 'e', tables: [] }] }));
    const invalid = await rejection(loadFamilies(spec));
    expect(invalid.code).toBe('invalid-config');
    expect(invalid.message).toMatch(new RegExp(`^pgparts: config file ${spec}: `));

    const throwing = join(dir, 'throws.mjs');
    writeFileSync(throwing, 'throw new Error("boom at load");');
    const thrown = await rejection(loadFamilies(throwing));
    expect(thrown.message).toBe(`pgparts: config file ${throwing}: boom at load`);

    const empty = join(dir, 'empty.mjs');
    writeFileSync(empty, 'export const other = 1;');
    expect((await rejection(loadFamilies(empty))).message).toContain(`${empty} must export`);
  });

  it('a plain family object whose tables are Drizzle tables is read as partitionFamily reads it', async () => {
    // It was refused: "tables.0: Invalid input: expected string, received PgTable".
    const app = mkdtempSync(join(tmpdir(), 'pgparts-plain-'));
    mkdirSync(join(app, 'node_modules'));
    symlinkSync(
      join(REPO_ROOT, 'node_modules', 'drizzle-orm'),
      join(app, 'node_modules', 'drizzle-orm'),
    );
    const config = join(app, 'pgparts.config.ts');
    writeFileSync(
      config,
      [
        "import { bigint, pgSchema, timestamp } from 'drizzle-orm/pg-core';",
        "const app = pgSchema('app');",
        "const events = app.table('app_events', { id: bigint('id', { mode: 'number' }).notNull(), occurredAt: timestamp('occurred_at').notNull() });",
        "const notes = app.table('app_notes', { id: bigint('id', { mode: 'number' }) });",
        'export const families = [',
        "  { name: 'app_events', tables: [events], partitionBy: { strategy: 'range', column: 'occurred_at', interval: 'day' } },",
        "  { name: 'app_notes', tables: [notes], partitionBy: { strategy: 'range', column: 'occurred_at', interval: 'day' } },",
        '];',
      ].join('\n'),
    );
    const refused = await rejection(loadFamilies(config));
    // The table without the column: partitionFamily's own refusal, naming the table's columns.
    expect(refused.message).toContain(
      'family "app_notes": table app_notes has no column "occurred_at" to partition by',
    );
    expect(refused.message).not.toContain('expected string');
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace(/\n {2}\{ name: 'app_notes'.*\n/, '\n'),
    );
    const [family] = await loadFamilies(config);
    expect(family).toMatchObject({ name: 'app_events', schema: 'app', tables: ['app_events'] });
  });

  it('a syntax error, in the config or a module it imports, in every command that loads one', async () => {
    // It came through as jiti's bare "ParseError: Unexpected token" and a path:line.
    const syntax = join(dir, 'syntax.config.ts');
    writeFileSync(syntax, 'export const families = [ {\n');
    const commands = [
      ['status'],
      ['plan'],
      ['apply', '--dry-run'],
      ['migrate'],
      ['generate'],
      ['drain', 'events', '2026-01-01'],
      ['retire', 'events', '2026-01-01', '--dry-run'],
      ['convert', 'events', 'prep'],
    ];
    for (const command of commands) {
      const run = await withConfig(command, syntax);
      expect(run.code, command.join(' ')).toBe(1);
      expect(run.stderr, command.join(' ')).toBe(
        `pgparts: config file ${syntax}: syntax error at line 2, column 1: Unexpected token; nothing was run\n`,
      );
    }
    const schema = join(dir, 'broken-schema.ts');
    writeFileSync(schema, 'export const x = 1;\nexport const y = (;\n');
    const importing = join(dir, 'importing.config.ts');
    writeFileSync(
      importing,
      "import { x } from './broken-schema';\nexport const families = [x];\n",
    );
    const run = await withConfig(['status'], importing);
    expect(run.stderr).toMatch(
      new RegExp(
        `^pgparts: config file ${importing}: syntax error in ${schema} at line 2, column \\d+: `,
      ),
    );
  });

  it('a config that throws, or imports what is not there, in every command that loads one', async () => {
    // generate and migrate printed the bare message ("pgparts: boom"), naming no file.
    const throwing = join(dir, 'throwing.config.ts');
    writeFileSync(throwing, "throw new Error('boom');\nexport const families = [];\n");
    const missing = join(dir, 'missing.config.ts');
    writeFileSync(
      missing,
      "import { events } from './no-such-schema';\nexport const families = [events];\n",
    );
    const commands = [['status'], ['plan'], ['migrate'], ['generate']];
    for (const command of commands) {
      const thrown = await withConfig(command, throwing);
      expect(thrown.code, command.join(' ')).toBe(1);
      expect(thrown.stderr, command.join(' ')).toBe(`pgparts: config file ${throwing}: boom\n`);
      const absent = await withConfig(command, missing);
      expect(absent.code, command.join(' ')).toBe(1);
      expect(absent.stderr, command.join(' ')).toMatch(
        new RegExp(`^pgparts: config file ${missing}: Cannot find module '\\./no-such-schema'`),
      );
    }
  });
});

describe('query inputs are bounded by their columns before any SQL', () => {
  it('topRuns refuses a season id an integer column cannot hold', async () => {
    const error = await rejection(topRuns(t.db, { seasonId: 2 ** 40, dungeonId: 1 }));
    expect(error.code).toBe('invalid-input');
    expect(error.message).toContain('seasonId: must fit an integer column');
    expect(await topRuns(t.db, { seasonId: 2 ** 31 - 1, dungeonId: 1 })).toEqual([]);
  });

  it('latestKillmails refuses a cursor in year 10000', async () => {
    const error = await rejection(
      latestKillmails(t.db, {
        before: { killmailTime: new Date(Date.UTC(10000, 0, 1)), killmailId: 1 },
      }),
    );
    expect(error.code).toBe('invalid-input');
    expect(error.message).toContain('before.killmailTime');
    expect(
      await latestKillmails(t.db, {
        before: { killmailTime: new Date(Date.UTC(9999, 11, 31)), killmailId: 1 },
      }),
    ).toEqual([]);
  });

  it('killsWithEnrichment refuses a fragment nested 5,000 levels deep, or too large', async () => {
    const deep = await rejection(killsWithEnrichment(t.db, { fragment: nested(5_000) }));
    expect(deep.code).toBe('invalid-input');
    expect(deep.message).toContain('fragment: nested more than 32 levels deep');
    const wide = await rejection(
      killsWithEnrichment(t.db, { fragment: Array.from({ length: 5_000 }, (_, i) => i) }),
    );
    expect(wide.message).toContain('more than 2000 values');
    expect(await killsWithEnrichment(t.db, { fragment: nested(30) })).toEqual([]);
    expect(jsonBoundsProblem(nested(100_000), { maxDepth: 32, maxNodes: 10 })).not.toBeNull();
  });
});

describe('hot-path query failures', () => {
  it("surface as 'query-failed' with the server's reason and the driver error as cause", async () => {
    // A search_path without the tables: the server refuses the statement.
    const elsewhere = drizzle(t.connect({ max: 1, connection: { search_path: 'pg_catalog' } }));
    const error = await rejection(topRuns(elsewhere, { seasonId: 1, dungeonId: 1 }));
    expect(isPgpartsError(error, 'query-failed')).toBe(true);
    expect(error.message).toContain('topRuns failed: relation "leaderboard_run" does not exist');
    expect(error.sqlState).toBe('42P01');
    expect(error.cause).toBeInstanceOf(Error);
  });
});
