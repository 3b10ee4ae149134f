import { sql } from 'drizzle-orm';
import type { FamilySpec } from '../define/spec.js';
import { isPgpartsError, PgpartsError } from '../errors.js';
import { quoteIdent, quoteQualified } from '../sql/identifiers.js';
import type { AnyPgDatabase } from './database.js';
import { INSUFFICIENT_PRIVILEGE, pgErrorCode, pgErrorMessage } from './pg-error.js';
import { missingSchemaUsage, OWN_TABLES } from './privileges.js';
import { rowsOf } from './rows.js';

/** A grant a read-only command lacks: what, and the statement that gives it. */
interface MissingRead {
  needed: string;
  grant: string;
}

/**
 * Runs a read-only command's `work` (status, plan, a dry run): a server refusal to read
 * (SQLSTATE 42501) becomes a `permission` PgpartsError naming the table and the GRANT of every
 * read it lacks, in place of the server's one line naming one table per failing run.
 */
export async function asReader<T>(
  db: AnyPgDatabase,
  command: string,
  families: readonly FamilySpec[],
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (pgErrorCode(error) !== INSUFFICIENT_PRIVILEGE) throw error;
    throw await readPermissionError(db, command, families, error);
  }
}

async function readPermissionError(
  db: AnyPgDatabase,
  command: string,
  families: readonly FamilySpec[],
  error: unknown,
): Promise<PgpartsError> {
  // The server's line, also when an operation wrapped it (query-failed: the driver's error is its cause).
  const server = pgErrorMessage(isPgpartsError(error) && error.cause ? error.cause : error);
  const named = /permission denied for (?:table|relation) (.+)$/.exec(server)?.[1];
  let role = 'the_role';
  let missing: MissingRead[] = [];
  try {
    ({ role, missing } = await missingReads(db, families, named));
  } catch {
    // The list is a help: without it the server's line and the docs still say what to grant.
  }
  const schemas = [...new Set(families.map((f) => quoteIdent(f.schema)))].join(', ');
  return new PgpartsError(
    'permission',
    `${command}: the role cannot read what it reports on (${server}):\n` +
      (missing.length > 0
        ? `${missing.map((m) => `  - ${m.needed}\n    ${m.grant}`).join('\n')}\n`
        : '') +
      '  pgparts makes tables later (partitions, a new DEFAULT, its own records), so a grant on the ' +
      'tables of today is not enough: have the role that runs maintenance and migrations give ' +
      `SELECT on what it makes:\n    ALTER DEFAULT PRIVILEGES FOR ROLE <maintenance role> IN SCHEMA ${schemas} GRANT SELECT ON TABLES TO ${role};`,
    { step: command, docs: 'docs/privileges.md', cause: error },
  );
}

/**
 * What a read-only command reads and the role may not: USAGE on the families' schemas, SELECT
 * on each family table, its DEFAULT partition, pgparts's own records, a LIST family's values
 * table, and the table the server named.
 */
async function missingReads(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  named: string | undefined,
): Promise<{ role: string; missing: MissingRead[] }> {
  const [who] = rowsOf<{ role: string }>(await db.execute(sql`SELECT current_user AS role`));
  const role = quoteIdent(who?.role ?? 'the_role');
  const missing: MissingRead[] = [];
  const schemas = new Set<string>();
  const tables: { schema: string; table: string }[] = [];
  for (const family of families) {
    schemas.add(family.schema);
    for (const table of family.tables) tables.push({ schema: family.schema, table });
    for (const table of OWN_TABLES) tables.push({ schema: family.schema, table });
    const source = family.partitionBy.strategy === 'list' ? family.partitionBy.valuesFrom : null;
    if (source) {
      schemas.add(source.schema);
      tables.push({ schema: source.schema, table: source.table });
    }
  }
  const usable = new Set<string>();
  for (const schema of schemas) {
    const lack = await missingSchemaUsage(db, schema, role);
    if (lack) missing.push(lack);
    else usable.add(schema);
  }
  const seen = new Set<string>();
  for (const { schema, table } of tables) {
    if (!usable.has(schema)) continue;
    // The table itself, its DEFAULT partition (read for its rows), and the table the server
    // named when it is in this schema.
    const rows = rowsOf<{ schema: string; name: string }>(
      await db.execute(sql`
        SELECT n.nspname AS schema, c.relname AS name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${schema}
          AND (c.relname = ${table} OR c.relname = ${named ?? null}
               OR (c.relispartition AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
                   AND EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                               WHERE i.inhrelid = c.oid AND p.relname = ${table}
                                 AND p.relnamespace = n.oid)))
          AND c.relkind IN ('r', 'p')
          AND NOT has_table_privilege(c.oid, 'SELECT')
        ORDER BY c.relname`),
    );
    for (const row of rows) {
      const qualified = quoteQualified(row.schema, row.name);
      if (seen.has(qualified)) continue;
      seen.add(qualified);
      missing.push({
        needed: `SELECT on ${row.schema}.${row.name}`,
        grant: `GRANT SELECT ON ${qualified} TO ${role};`,
      });
    }
  }
  return { role, missing };
}
