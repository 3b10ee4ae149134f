import { sql } from 'drizzle-orm';
import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { CONVERT_SCHEMA, oldSchema, twinSchema } from '../ops/convert/names.js';
import { quoteIdent, quoteQualified } from '../sql/identifiers.js';
import type { AnyPgDatabase } from './database.js';
import { rowsOf } from './rows.js';

/** The commands whose privileges are checked before they change anything. */
export type PrivilegedCommand = 'migrate' | 'apply' | 'drain' | 'retire' | 'reattach' | 'convert';

export interface MissingPrivilege {
  /** What the role cannot do, in words. */
  needed: string;
  /** The statement (run by an owner or a superuser) that grants it. */
  grant: string;
  /** required: the command would fail part-way; advisory: it runs, on a slower path. */
  severity: 'required' | 'advisory';
}

export interface PreflightOptions {
  /** retire --archive / reattach: the archive schema. */
  archiveSchema?: string;
  /** migrate: the schemas of the migration records (default pgparts, the package's record). */
  migrationsSchemas?: readonly string[];
}

async function one<T>(db: AnyPgDatabase, query: ReturnType<typeof sql>): Promise<T> {
  return rowsOf<T>(await db.execute(query))[0] as T;
}

/**
 * What the current role lacks for `command` on `families`, each with the GRANT that fixes it;
 * empty when nothing is missing. Reads only: run it before anything changes.
 * docs/privileges.md lists the same grants per command.
 */
export async function missingPrivileges(
  db: AnyPgDatabase,
  command: PrivilegedCommand,
  families: readonly FamilySpec[],
  options: PreflightOptions = {},
): Promise<MissingPrivilege[]> {
  const who = await one<{ role: string; database: string; superuser: boolean; version: number }>(
    db,
    sql`SELECT current_user AS role, current_database() AS database,
               (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
               current_setting('server_version_num')::int AS version`,
  );
  if (who.superuser) return [];
  const role = quoteIdent(who.role);
  const missing: MissingPrivilege[] = [];

  /**
   * CREATE SCHEMA IF NOT EXISTS `schema`: PostgreSQL checks CREATE on the database before it
   * looks whether the schema exists, so the privilege is needed even when it does.
   */
  const canCreateSchema = async (schema: string, why: string) => {
    const row = await one<{ ok: boolean }>(
      db,
      sql`SELECT has_database_privilege(current_database(), 'CREATE') AS ok`,
    );
    if (!row.ok) {
      missing.push({
        needed: `CREATE on database ${who.database} (${why}: CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)} needs it even when the schema exists)`,
        grant: `GRANT CREATE ON DATABASE ${quoteIdent(who.database)} TO ${role};`,
        severity: 'required',
      });
    }
    await canCreateIn(schema, why);
  };
  /** CREATE in an existing schema (new tables, partitions, pgparts's own tables). */
  const canCreateIn = async (schema: string, why: string) => {
    const row = await one<{ ok: boolean | null }>(
      db,
      sql`SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${schema})
                 THEN has_schema_privilege(${schema}, 'CREATE') END AS ok`,
    );
    if (row.ok === false) {
      missing.push({
        needed: `CREATE on schema ${schema} (${why})`,
        grant: `GRANT CREATE ON SCHEMA ${quoteIdent(schema)} TO ${role};`,
        severity: 'required',
      });
    }
  };
  /** DDL on a table and its partitions (create/attach/detach/drop) needs its owner. */
  const ownsFamily = async (family: FamilySpec) => {
    for (const table of family.tables) {
      const rows = rowsOf<{ name: string; owner: string }>(
        await db.execute(sql`
          SELECT c.oid::regclass::text AS name, pg_get_userbyid(c.relowner) AS owner
          FROM pg_partition_tree(to_regclass(${quoteQualified(family.schema, table)})) t
          JOIN pg_class c ON c.oid = t.relid
          WHERE NOT pg_has_role(current_user, c.relowner, 'USAGE')
          ORDER BY t.level, c.relname`),
      );
      for (const row of rows) {
        missing.push({
          needed: `ownership of ${row.name} (owned by ${row.owner}; DDL on partitions needs it)`,
          grant: `GRANT ${quoteIdent(row.owner)} TO ${role}; -- or: ALTER TABLE ${row.name} OWNER TO ${role};`,
          severity: 'required',
        });
      }
    }
  };

  if (command === 'migrate') {
    for (const schema of options.migrationsSchemas ?? ['pgparts']) {
      await canCreateSchema(schema, 'the migrations record');
    }
    await canCreateIn('public', 'the tables the migrations create');
    return missing;
  }
  for (const family of families) {
    await ownsFamily(family);
    if (command === 'apply' || command === 'drain' || command === 'convert') {
      await canCreateIn(family.schema, 'new partitions and pgparts_maintenance_runs');
    }
    if (command === 'retire' && options.archiveSchema) {
      await canCreateSchema(options.archiveSchema, 'the archive');
    }
    if (command === 'retire') await canCreateIn(family.schema, 'pgparts_retired_keys');
    if (command === 'convert') {
      for (const schema of [CONVERT_SCHEMA, twinSchema(family), oldSchema(family)]) {
        await canCreateSchema(schema, 'the conversion');
      }
    }
    const source = family.partitionBy.strategy === 'list' ? family.partitionBy.valuesFrom : null;
    if (source && (command === 'apply' || command === 'drain')) {
      const row = await one<{ ok: boolean | null }>(
        db,
        sql`SELECT CASE WHEN to_regclass(${quoteQualified(source.schema, source.table)}) IS NOT NULL
                   THEN has_table_privilege(to_regclass(${quoteQualified(source.schema, source.table)}), 'SELECT') END AS ok`,
      );
      if (row.ok === false) {
        missing.push({
          needed: `SELECT on ${source.schema}.${source.table} (the LIST values come from it)`,
          grant: `GRANT SELECT ON ${quoteQualified(source.schema, source.table)} TO ${role};`,
          severity: 'required',
        });
      }
    }
  }
  if (command === 'drain') {
    const fast = await one<{ ok: boolean }>(
      db,
      who.version >= 150000
        ? sql`SELECT has_parameter_privilege('session_replication_role', 'SET') AS ok`
        : sql`SELECT false AS ok`,
    );
    if (!fast.ok) {
      missing.push({
        needed:
          'SET on session_replication_role (the fast drain path: deletes from DEFAULT skip ON DELETE actions; without it, locks are held longer)',
        grant:
          who.version >= 150000
            ? `GRANT SET ON PARAMETER session_replication_role TO ${role};`
            : '-- PostgreSQL 14: only a superuser may set it',
        severity: 'advisory',
      });
    }
  }
  return missing;
}

/** Throws a `permission` PgpartsError listing every required privilege missing and its GRANT. */
export function assertPrivileges(command: string, missing: readonly MissingPrivilege[]): void {
  const required = missing.filter((m) => m.severity === 'required');
  if (required.length === 0) return;
  throw new PgpartsError(
    'permission',
    `${command}: the role lacks ${required.length} privilege(s); nothing was changed:\n` +
      required.map((m) => `  - ${m.needed}\n    ${m.grant}`).join('\n'),
    { step: command, docs: 'docs/privileges.md' },
  );
}
