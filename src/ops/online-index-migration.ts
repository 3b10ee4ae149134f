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
 *   -- pgparts:replace-index-online {"table":...}       (an index whose definition changed)
 *
 * `pgparts migrate` (and `migrate(db)`) recognises the marker, does not run the file's SQL, and
 * calls `buildIndexOnline(db, spec)` for each directive line, in order, with the spec parsed by
 * `onlineIndexSpecSchema`; `{ replace: true }` for a replace line, which builds the new index
 * beside the one of that name and swaps it in once complete. Any other migrator runs the file as SQL: the directives are comments,
 * and the guard raises an error unless the session says `pgparts.migrate = on`, so
 * `drizzle-kit migrate` fails on this file before it changes anything, saying to use
 * `pgparts migrate`.
 */

export const ONLINE_MIGRATION_MARKER = '-- pgparts:online';
export const CREATE_INDEX_ONLINE_DIRECTIVE = '-- pgparts:create-index-online';
export const REPLACE_INDEX_ONLINE_DIRECTIVE = '-- pgparts:replace-index-online';

/** One index of an online migration: built, or built to replace the index of its name. */
export interface OnlineIndexDirective {
  spec: OnlineIndexSpec;
  replace: boolean;
}

export const ONLINE_MIGRATION_GUARD_SQL =
  "DO $$ BEGIN IF current_setting('pgparts.migrate', true) IS DISTINCT FROM 'on' THEN " +
  "RAISE EXCEPTION 'this migration builds indexes online; run it with pgparts migrate'; END IF; END $$;";

/** A spec to build, or `{ replace: spec }` for one that replaces the index of its name. */
export type OnlineIndexEntry = OnlineIndexSpecInput | { replace: OnlineIndexSpecInput };

/** The body of a migration file that builds these indexes online. */
export function renderOnlineIndexMigration(indexes: readonly OnlineIndexEntry[]): string {
  if (indexes.length === 0) {
    throw new PgpartsError('invalid-input', 'an online index migration needs at least one index');
  }
  const lines = indexes.map((entry, position) => {
    const replace = 'replace' in entry;
    const input = replace ? entry.replace : entry;
    const parsed = onlineIndexSpecSchema.safeParse(input);
    if (!parsed.success) {
      throw new PgpartsError(
        'invalid-config',
        `online index ${position + 1}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const directive = replace ? REPLACE_INDEX_ONLINE_DIRECTIVE : CREATE_INDEX_ONLINE_DIRECTIVE;
    return `${directive} ${JSON.stringify(parsed.data)}`;
  });
  return `${[ONLINE_MIGRATION_MARKER, ONLINE_MIGRATION_GUARD_SQL, ...lines].join('\n')}\n`;
}

/** True when the file's first line is the online marker. */
export function isOnlineMigration(body: string): boolean {
  return body.split(/\r?\n/, 1)[0]?.trim() === ONLINE_MIGRATION_MARKER;
}

/**
 * The index specs of an online migration file, in order (onlineIndexDirectives without telling
 * a replacement from a new index).
 */
export function parseOnlineIndexMigration(body: string, file = 'migration'): OnlineIndexSpec[] {
  return onlineIndexDirectives(body, file).map((d) => d.spec);
}

/**
 * The indexes of an online migration file, in order, each marked when it replaces the index of
 * its name. Refuses a file without the marker, a line that is neither the guard, a directive, a
 * comment nor blank, and a directive whose JSON does not parse as a spec (`file` names the file
 * in the error).
 */
export function onlineIndexDirectives(body: string, file = 'migration'): OnlineIndexDirective[] {
  if (!isOnlineMigration(body)) {
    throw new PgpartsError('migration', `${file} does not start with ${ONLINE_MIGRATION_MARKER}`);
  }
  const directives: OnlineIndexDirective[] = [];
  body.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const where = `${file} line ${index + 1}`;
    const directive = [CREATE_INDEX_ONLINE_DIRECTIVE, REPLACE_INDEX_ONLINE_DIRECTIVE].find((d) =>
      line.startsWith(d),
    );
    if (directive) {
      let json: unknown;
      try {
        json = JSON.parse(line.slice(directive.length));
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
      directives.push({
        spec: parsed.data,
        replace: directive === REPLACE_INDEX_ONLINE_DIRECTIVE,
      });
    } else if (line !== '' && !line.startsWith('--') && line !== ONLINE_MIGRATION_GUARD_SQL) {
      throw new PgpartsError(
        'migration',
        `${where}: an online migration holds only the guard and ${CREATE_INDEX_ONLINE_DIRECTIVE} / ${REPLACE_INDEX_ONLINE_DIRECTIVE} lines; put other statements in a migration of their own`,
      );
    }
  });
  if (directives.length === 0) {
    throw new PgpartsError(
      'migration',
      `${file} has no ${CREATE_INDEX_ONLINE_DIRECTIVE} or ${REPLACE_INDEX_ONLINE_DIRECTIVE} line`,
    );
  }
  return directives;
}
