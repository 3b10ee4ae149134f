import { type SQL, sql } from 'drizzle-orm';
import { MAINTENANCE_RUNS_TABLE } from '../catalog/maintenance-runs.js';
import { OPERATIONS_TABLE } from '../catalog/operations.js';
import { RETIRED_KEYS_TABLE } from '../catalog/retired-keys.js';
import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { CONVERT_SCHEMA, oldSchema, twinSchema } from '../ops/convert/names.js';
import { CHANGE_LOG_TABLE } from '../ops/online-copy/capture.js';
import { quoteIdent, quoteQualified } from '../sql/identifiers.js';
import { OWNED_TABLES, OWNERSHIP_ADOPTED } from '../sql/ownership.js';
import type { AnyPgDatabase } from './database.js';
import { rowsOf } from './rows.js';

/** The commands whose privileges are checked before they change anything. */
export type PrivilegedCommand =
  | 'migrate'
  | 'apply'
  | 'drain'
  | 'retire'
  | 'reattach'
  | 'unretire'
  | 'convert';

/**
 * pgparts's own tables in a family's schema: made by whichever role ran first (CREATE TABLE IF
 * NOT EXISTS), read and written by every later run. One made by another role (a superuser's
 * first run) needs these grants before a least-privileged role can use it.
 */
export const OWN_TABLES = [
  OPERATIONS_TABLE,
  RETIRED_KEYS_TABLE,
  OWNED_TABLES,
  OWNERSHIP_ADOPTED,
  MAINTENANCE_RUNS_TABLE,
  CHANGE_LOG_TABLE,
] as const;
const OWN_TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] as const;

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
  /** migrate: the schemas its migrations create tables (and types, views) in. Default public. */
  createdSchemas?: readonly string[];
  /** Who is connected, already read (readSessionFacts): saves the preflight its first read. */
  facts?: SessionFacts;
}

/** Who is connected, to what, and whether the server takes changes: one read for all of it. */
export interface SessionFacts {
  role: string;
  database: string;
  superuser: boolean;
  /** server_version_num */
  version: number;
  /** pg_is_in_recovery() */
  standby: boolean;
  /** transaction_read_only: the session's transactions are read-only (default_transaction_read_only). */
  readOnly: boolean;
}

/**
 * One statement for what apply checks before anything else: the server's version, whether it is
 * a standby or read-only, and the role the privileges preflight starts from.
 */
export async function readSessionFacts(db: AnyPgDatabase): Promise<SessionFacts> {
  return sessionFactsFromRow(await one<Record<string, unknown>>(db, sessionFactsSql()));
}

/**
 * Whether the session's role is a superuser: the read-only setting `is_superuser` (it follows SET
 * ROLE, as current_user does), not pg_roles, a view over two catalogs, which a new server process
 * plans in about 2 ms the first time (every CLI run or cron job's run is a new one).
 */
export const IS_SUPERUSER = sql.raw(`current_setting('is_superuser') = 'on'`);

/** The statement readSessionFacts runs (apply reads it alongside its lock attempt). */
export function sessionFactsSql(): SQL {
  return sql`SELECT current_user AS role, current_database() AS database,
               ${IS_SUPERUSER} AS superuser,
               current_setting('server_version_num')::int AS version,
               pg_is_in_recovery() AS standby,
               current_setting('transaction_read_only') = 'on' AS read_only`;
}

/** SessionFacts from a row of sessionFactsSql. */
export function sessionFactsFromRow(row: Record<string, unknown>): SessionFacts {
  return {
    role: String(row.role),
    database: String(row.database),
    superuser: row.superuser === true,
    version: Number(row.version),
    standby: row.standby === true,
    readOnly: row.read_only === true,
  };
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
  const who = options.facts ?? (await readSessionFacts(db));
  if (who.superuser) return [];
  const role = quoteIdent(who.role);
  const missing: MissingPrivilege[] = [];
  /** Tables and views the role does not own: listed at the end, one entry per owner. */
  const unowned: Unowned[] = [];

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
  /**
   * USAGE on an existing schema: without it every name in the schema is refused (to_regclass
   * included, with 'permission denied for schema'), so the checks of what is in it wait for it.
   */
  const canUse = async (schema: string): Promise<boolean> => {
    const lack = await missingSchemaUsage(db, schema, role);
    if (!lack) return true;
    missing.push({ ...lack, severity: 'required' });
    return false;
  };
  /** CREATE in an existing schema (new tables, partitions, pgparts's own tables). */
  const canCreateIn = async (schema: string, why: string) => {
    await canUse(schema);
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
      const rows = rowsOf<{ name: string; owner: string; superuser: boolean }>(
        await db.execute(sql`
          SELECT c.oid::regclass::text AS name, pg_get_userbyid(c.relowner) AS owner,
                 coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.oid = c.relowner), false) AS superuser
          FROM pg_partition_tree(to_regclass(${quoteQualified(family.schema, table)})) t
          JOIN pg_class c ON c.oid = t.relid
          WHERE NOT pg_has_role(current_user, c.relowner, 'USAGE')
          ORDER BY t.level, c.relname`),
      );
      for (const row of rows) unowned.push({ ...row, kind: 'TABLE' });
    }
  };

  /**
   * convert moves the views (and materialized views) over the tables to the new ones, drop and
   * create: they need their owner too, views over those views included.
   */
  const ownsDependentViews = async (family: FamilySpec) => {
    const parents = sql.join(
      family.tables.map((t) => sql`to_regclass(${quoteQualified(family.schema, t)})`),
      sql`, `,
    );
    const rows = rowsOf<{ name: string; owner: string; superuser: boolean }>(
      await db.execute(sql`
        WITH RECURSIVE deps(oid, depth) AS (
          SELECT DISTINCT r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
          WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
            AND d.refobjid IN (${parents}) AND r.ev_class <> d.refobjid
          UNION
          SELECT r.ev_class, deps.depth + 1 FROM deps
          JOIN pg_depend d ON d.refobjid = deps.oid AND d.classid = 'pg_rewrite'::regclass
            AND d.refclassid = 'pg_class'::regclass
          JOIN pg_rewrite r ON r.oid = d.objid AND r.ev_class <> deps.oid
          WHERE deps.depth < 50)
        SELECT DISTINCT c.oid::regclass::text AS name, pg_get_userbyid(c.relowner) AS owner,
               coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.oid = c.relowner), false) AS superuser
        FROM deps JOIN pg_class c ON c.oid = deps.oid
        WHERE NOT pg_has_role(current_user, c.relowner, 'USAGE')
        ORDER BY 1`),
    );
    for (const row of rows) unowned.push({ ...row, kind: 'VIEW' });
  };

  /** Reads and writes pgparts's own tables of the family's schema that exist already. */
  const canWriteOwnTables = async (family: FamilySpec) => {
    for (const table of OWN_TABLES) {
      const qualified = quoteQualified(family.schema, table);
      const [row] = rowsOf<{ lacking: string[] | null }>(
        await db.execute(sql`
          SELECT CASE WHEN to_regclass(${qualified}) IS NOT NULL THEN ARRAY(
                   SELECT p FROM unnest(ARRAY[${sql.join(
                     OWN_TABLE_PRIVILEGES.map((p) => sql`${p}`),
                     sql`, `,
                   )}]::text[]) p
                   WHERE NOT has_table_privilege(to_regclass(${qualified}), p)) END AS lacking`),
      );
      const lacking = row?.lacking ?? [];
      if (lacking.length > 0) {
        missing.push({
          needed: `${lacking.join(', ')} on ${family.schema}.${table} (pgparts's own record, made by another role)`,
          grant: `GRANT ${OWN_TABLE_PRIVILEGES.join(', ')} ON ${qualified} TO ${role};`,
          severity: 'required',
        });
      }
    }
  };

  if (command === 'migrate') {
    for (const schema of options.migrationsSchemas ?? ['pgparts']) {
      await canCreateSchema(schema, 'the migrations record');
    }
    for (const schema of options.createdSchemas ?? ['public']) {
      await canCreateIn(schema, 'the tables the migrations create');
    }
    return missing;
  }
  for (const family of families) {
    // Nothing else in the schema can be looked at without USAGE: the rest waits for the grant.
    if (!(await canUse(family.schema))) continue;
    await ownsFamily(family);
    await canWriteOwnTables(family);
    if (command === 'apply' || command === 'drain' || command === 'convert') {
      await canCreateIn(family.schema, 'new partitions and pgparts_maintenance_runs');
    }
    if ((command === 'retire' || command === 'reattach') && options.archiveSchema) {
      await canCreateSchema(options.archiveSchema, 'the archive');
    }
    if (command === 'retire' || command === 'reattach' || command === 'unretire') {
      await canCreateIn(family.schema, 'pgparts_retired_keys and pgparts_operations');
    }
    if (command === 'convert') {
      await ownsDependentViews(family);
      for (const schema of [CONVERT_SCHEMA, twinSchema(family), oldSchema(family)]) {
        await canCreateSchema(schema, 'the conversion');
      }
    }
    const source = family.partitionBy.strategy === 'list' ? family.partitionBy.valuesFrom : null;
    if (source && (command === 'apply' || command === 'drain') && (await canUse(source.schema))) {
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
  missing.unshift(...ownershipNeeds(unowned, role));
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
  // Schema-wide needs (CREATE on a schema, pgparts's own tables) come once per family that
  // shares the schema: said once.
  const seen = new Set<string>();
  return missing.filter((m) => !seen.has(m.needed) && seen.add(m.needed));
}

export interface PrivilegeCheckOptions extends PreflightOptions {
  /** Told of each advisory privilege missing (the command runs, on a slower path). */
  onNote?: (note: MissingPrivilege) => void;
}

/**
 * The check every command that changes something runs before its first change, from the CLI
 * and from the API alike: throws a `permission` PgpartsError listing each required privilege
 * the role lacks with the GRANT that fixes it; advisory ones go to `onNote`.
 */
export async function preflightPrivileges(
  db: AnyPgDatabase,
  command: PrivilegedCommand,
  families: readonly FamilySpec[],
  options: PrivilegeCheckOptions = {},
): Promise<MissingPrivilege[]> {
  const { onNote, ...preflight } = options;
  const missing = await missingPrivileges(db, command, families, preflight);
  for (const note of missing.filter((m) => m.severity === 'advisory')) onNote?.(note);
  assertPrivileges(command, missing);
  return missing;
}

/** A table or view the role does not own (nor is a member of its owner). */
interface Unowned {
  name: string;
  owner: string;
  superuser: boolean;
  kind: 'TABLE' | 'VIEW';
}

/** How many names a grouped ownership need spells out before "and N more". */
const NAMES_SHOWN = 3;

function someNames(names: readonly string[]): string {
  const shown = names.slice(0, NAMES_SHOWN).join(', ');
  return names.length > NAMES_SHOWN ? `${shown} and ${names.length - NAMES_SHOWN} more` : shown;
}

/**
 * The ownership the role lacks, one entry per owner and kind: one membership grant covers every
 * partition of that owner (a family of daily partitions listed one line each buried it).
 */
function ownershipNeeds(unowned: readonly Unowned[], role: string): MissingPrivilege[] {
  const groups = new Map<string, Unowned[]>();
  for (const row of unowned) {
    const id = `${row.kind}\u0000${row.owner}`;
    const seen = groups.get(id);
    if (!seen) groups.set(id, [row]);
    else if (!seen.some((r) => r.name === row.name)) seen.push(row);
  }
  return [...groups.values()].map((rows) => {
    const [first] = rows as [Unowned, ...Unowned[]];
    const why =
      first.kind === 'VIEW' ? 'convert moves it to the new tables' : 'DDL on partitions needs it';
    const what = first.kind === 'VIEW' ? 'view' : 'table';
    const needed =
      rows.length === 1
        ? `ownership of ${first.kind === 'VIEW' ? 'the view ' : ''}${first.name} (owned by ${first.owner}; ${why})`
        : `ownership of ${rows.length} ${what}s owned by ${first.owner} (${why}): ${someNames(rows.map((r) => r.name))}`;
    return { needed, grant: ownerGrant(rows, role), severity: 'required' as const };
  });
}

/**
 * How the role gets ownership's rights: membership in the owner's role, or the objects given to
 * it. Never membership in a superuser: that makes the role one (it may SET ROLE to it), which
 * maintenance does not need.
 */
function ownerGrant(rows: readonly Unowned[], role: string): string {
  const [first] = rows as [Unowned, ...Unowned[]];
  const alter = `ALTER ${first.kind} ${first.name} OWNER TO ${role};`;
  const others = rows.slice(1).map((r) => r.name);
  const more =
    others.length === 0
      ? ''
      : `and the same for the ${others.length} other${others.length === 1 ? '' : 's'}: ${someNames(others)}`;
  return first.superuser
    ? `${alter} -- ${more ? `${more}; ` : ''}${first.owner} is a superuser: membership in it would make ${role} one`
    : `GRANT ${quoteIdent(first.owner)} TO ${role}; -- or: ${alter}${more ? ` ${more}` : ''}`;
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

/**
 * USAGE on an existing schema the role (quoted) lacks: what is needed and the GRANT that gives
 * it; null when it has it, or the schema does not exist. Without it every name in the schema is
 * refused, so checks of what is in it wait for it.
 */
export async function missingSchemaUsage(
  db: AnyPgDatabase,
  schema: string,
  role: string,
): Promise<{ needed: string; grant: string } | null> {
  const [row] = rowsOf<{ ok: boolean | null }>(
    await db.execute(sql`
      SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${schema})
             THEN has_schema_privilege(${schema}, 'USAGE') END AS ok`),
  );
  if (row?.ok !== false) return null;
  return {
    needed: `USAGE on schema ${schema} (to see the tables in it at all)`,
    grant: `GRANT USAGE ON SCHEMA ${quoteIdent(schema)} TO ${role};`,
  };
}
