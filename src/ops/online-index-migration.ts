import { PgpartsError } from '../errors.js';
import {
  type OnlineIndexSpec,
  type OnlineIndexSpecInput,
  onlineIndexSpecSchema,
} from './online-index-spec.js';

/**
 * The migration-file contract between online index builds and the migration runner.
 *
 * A migration that builds indexes online cannot run inside a transaction (CREATE INDEX
 * CONCURRENTLY refuses to), and drizzle-kit's migrator runs every migration inside one. So such a
 * file holds no DDL for the migrator to run, only:
 *
 *   -- pgparts:online                                   (first line: the marker)
 *   DO $$ ... RAISE EXCEPTION ... $$;                   (the guard)
 *   -- pgparts:create-index-online {"table":...}        (one line per index, JSON of the spec)
 *
 * `pgparts migrate` (and `migrate(db)`) recognises the marker, does not run the file's SQL, and
 * calls `buildIndexOnline(db, spec)` for each directive line, in order, with the spec parsed by
 * `onlineIndexSpecSchema`. Any other migrator runs the file as SQL: the directives are comments,
 * and the guard raises an error unless the session says `pgparts.migrate = on`, so
 * `drizzle-kit migrate` fails on this file before it changes anything, saying to use
 * `pgparts migrate`.
 */

export const ONLINE_MIGRATION_MARKER = '-- pgparts:online';
export const CREATE_INDEX_ONLINE_DIRECTIVE = '-- pgparts:create-index-online';

export const ONLINE_MIGRATION_GUARD_SQL =
  "DO $$ BEGIN IF current_setting('pgparts.migrate', true) IS DISTINCT FROM 'on' THEN " +
  "RAISE EXCEPTION 'this migration builds indexes online; run it with pgparts migrate'; END IF; END $$;";

/** The body of a migration file that builds these indexes online. */
export function renderOnlineIndexMigration(specs: readonly OnlineIndexSpecInput[]): string {
  if (specs.length === 0) {
    throw new PgpartsError('invalid-input', 'an online index migration needs at least one index');
  }
  const lines = specs.map((input, position) => {
    const parsed = onlineIndexSpecSchema.safeParse(input);
    if (!parsed.success) {
      throw new PgpartsError(
        'invalid-config',
        `online index ${position + 1}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    return `${CREATE_INDEX_ONLINE_DIRECTIVE} ${JSON.stringify(parsed.data)}`;
  });
  return `${[ONLINE_MIGRATION_MARKER, ONLINE_MIGRATION_GUARD_SQL, ...lines].join('\n')}\n`;
}

/** True when the file's first line is the online marker. */
export function isOnlineMigration(body: string): boolean {
  return body.split(/\r?\n/, 1)[0]?.trim() === ONLINE_MIGRATION_MARKER;
}

/**
 * The index specs of an online migration file, in order. Refuses a file without the marker, a
 * line that is neither the guard, a directive, a comment nor blank, and a directive whose JSON
 * does not parse as a spec (`file` names the file in the error).
 */
export function parseOnlineIndexMigration(body: string, file = 'migration'): OnlineIndexSpec[] {
  if (!isOnlineMigration(body)) {
    throw new PgpartsError('migration', `${file} does not start with ${ONLINE_MIGRATION_MARKER}`);
  }
  const specs: OnlineIndexSpec[] = [];
  body.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const where = `${file} line ${index + 1}`;
    if (line.startsWith(CREATE_INDEX_ONLINE_DIRECTIVE)) {
      let json: unknown;
      try {
        json = JSON.parse(line.slice(CREATE_INDEX_ONLINE_DIRECTIVE.length));
      } catch (error) {
        throw new PgpartsError('migration', `${where}: the index spec is not JSON`, {
          cause: error,
        });
      }
      const parsed = onlineIndexSpecSchema.safeParse(json);
      if (!parsed.success) {
        throw new PgpartsError(
          'migration',
          `${where}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      }
      specs.push(parsed.data);
    } else if (line !== '' && !line.startsWith('--') && line !== ONLINE_MIGRATION_GUARD_SQL) {
      throw new PgpartsError(
        'migration',
        `${where}: an online migration holds only the guard and ${CREATE_INDEX_ONLINE_DIRECTIVE} lines; put other statements in a migration of their own`,
      );
    }
  });
  if (specs.length === 0) {
    throw new PgpartsError('migration', `${file} has no ${CREATE_INDEX_ONLINE_DIRECTIVE} line`);
  }
  return specs;
}
