import type { z } from 'zod';
import { PgpartsError } from '../errors.js';
import {
  type IndexDrop,
  type IndexDropInput,
  type IndexRename,
  type IndexRenameInput,
  indexDropSchema,
  indexRenameSchema,
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
 *   -- pgparts:create-index-online {"table":...}        (an index to build, JSON of the spec)
 *   -- pgparts:replace-index-online {"table":...}       (an index whose definition changed)
 *   -- pgparts:rename-index {"table":...,"from":...}    (an index renamed, definition unchanged)
 *   -- pgparts:drop-index {"table":...,"name":...}      (dropped once the indexes above are built)
 *
 * `pgparts migrate` (and `migrate(db)`) recognises the marker, does not run the file's SQL, and
 * runs the directives in order: `buildIndexOnline(db, spec)` for a create line, with
 * `{ replace: true }` for a replace line (the new index built beside the one of that name and
 * swapped in once complete), `renameIndexOnline` for a rename line and `dropIndex` for a drop
 * line, each parsed by its schema. Any other migrator runs the file as SQL: the directives are
 * comments, and the guard raises an error unless the session says `pgparts.migrate = on`, so
 * `drizzle-kit migrate` fails on this file before it changes anything, saying to use
 * `pgparts migrate`.
 */

export const ONLINE_MIGRATION_MARKER = '-- pgparts:online';
export const CREATE_INDEX_ONLINE_DIRECTIVE = '-- pgparts:create-index-online';
export const REPLACE_INDEX_ONLINE_DIRECTIVE = '-- pgparts:replace-index-online';
export const RENAME_INDEX_DIRECTIVE = '-- pgparts:rename-index';
export const DROP_INDEX_DIRECTIVE = '-- pgparts:drop-index';

/** What a line of an online migration asks for, parsed. */
export type OnlineIndexDirective =
  | { kind: 'build'; spec: OnlineIndexSpec; replace: boolean }
  | { kind: 'rename'; rename: IndexRename }
  | { kind: 'drop'; drop: IndexDrop };

/** What a directive is about: the index, its table, and a rename's new name. */
export interface DirectiveSubject {
  kind: 'build' | 'replace' | 'rename' | 'drop';
  table: { schema: string; name: string };
  index: string;
  to?: string;
}

export function directiveSubject(directive: OnlineIndexDirective): DirectiveSubject {
  switch (directive.kind) {
    case 'build': {
      const { spec, replace } = directive;
      return { kind: replace ? 'replace' : 'build', table: spec.table, index: spec.name };
    }
    case 'rename': {
      const { table, from, to } = directive.rename;
      return { kind: 'rename', table, index: from, to };
    }
    case 'drop':
      return { kind: 'drop', table: directive.drop.table, index: directive.drop.name };
  }
}

/**
 * A line to write: a spec to build, `{ replace: spec }` for one that replaces the index of its
 * name, `{ rename: { table, from, to } }`, or `{ drop: { table, name } }`.
 */
export type OnlineIndexEntry =
  | OnlineIndexSpecInput
  | { replace: OnlineIndexSpecInput }
  | { rename: IndexRenameInput }
  | { drop: IndexDropInput };

export const ONLINE_MIGRATION_GUARD_SQL =
  "DO $$ BEGIN IF current_setting('pgparts.migrate', true) IS DISTINCT FROM 'on' THEN " +
  "RAISE EXCEPTION 'this migration builds indexes online; run it with pgparts migrate'; END IF; END $$;";

/** Each directive: its line's start, its JSON's schema, the entry written from and read into. */
const DIRECTIVES = [
  {
    prefix: CREATE_INDEX_ONLINE_DIRECTIVE,
    schema: onlineIndexSpecSchema,
    of: (e: OnlineIndexEntry) =>
      !('replace' in e || 'rename' in e || 'drop' in e) ? e : undefined,
    read: (spec: OnlineIndexSpec): OnlineIndexDirective => ({
      kind: 'build',
      spec,
      replace: false,
    }),
  },
  {
    prefix: REPLACE_INDEX_ONLINE_DIRECTIVE,
    schema: onlineIndexSpecSchema,
    of: (e: OnlineIndexEntry) => ('replace' in e ? e.replace : undefined),
    read: (spec: OnlineIndexSpec): OnlineIndexDirective => ({ kind: 'build', spec, replace: true }),
  },
  {
    prefix: RENAME_INDEX_DIRECTIVE,
    schema: indexRenameSchema,
    of: (e: OnlineIndexEntry) => ('rename' in e ? e.rename : undefined),
    read: (rename: IndexRename): OnlineIndexDirective => ({ kind: 'rename', rename }),
  },
  {
    prefix: DROP_INDEX_DIRECTIVE,
    schema: indexDropSchema,
    of: (e: OnlineIndexEntry) => ('drop' in e ? e.drop : undefined),
    read: (drop: IndexDrop): OnlineIndexDirective => ({ kind: 'drop', drop }),
  },
] as const;

type Directive = {
  prefix: string;
  schema: z.ZodType;
  of: (e: OnlineIndexEntry) => unknown;
  read: (value: never) => OnlineIndexDirective;
};

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
}

/** The body of a migration file that runs these directives (builds, replacements, renames, drops). */
export function renderOnlineIndexMigration(entries: readonly OnlineIndexEntry[]): string {
  if (entries.length === 0) {
    throw new PgpartsError('invalid-input', 'an online index migration needs at least one index');
  }
  const lines = entries.map((entry, position) => {
    for (const directive of DIRECTIVES as readonly Directive[]) {
      const input = directive.of(entry);
      if (input === undefined) continue;
      const parsed = directive.schema.safeParse(input);
      if (!parsed.success) {
        throw new PgpartsError(
          'invalid-config',
          `online index ${position + 1}: ${issues(parsed.error)}`,
        );
      }
      return `${directive.prefix} ${JSON.stringify(parsed.data)}`;
    }
    throw new PgpartsError('invalid-input', `online index ${position + 1}: not an entry`);
  });
  return `${[ONLINE_MIGRATION_MARKER, ONLINE_MIGRATION_GUARD_SQL, ...lines].join('\n')}\n`;
}

/** True when the file's first line is the online marker. */
export function isOnlineMigration(body: string): boolean {
  return body.split(/\r?\n/, 1)[0]?.trim() === ONLINE_MIGRATION_MARKER;
}

/**
 * The index specs an online migration file builds, in order (onlineIndexDirectives' builds and
 * replacements, without telling one from the other).
 */
export function parseOnlineIndexMigration(body: string, file = 'migration'): OnlineIndexSpec[] {
  return onlineIndexDirectives(body, file).flatMap((d) => (d.kind === 'build' ? [d.spec] : []));
}

/**
 * The directives of an online migration file, in order. Refuses a file without the marker, a
 * line that is neither the guard, a directive, a comment nor blank, and a directive whose JSON
 * does not parse by its schema (`file` names the file in the error).
 */
export function onlineIndexDirectives(body: string, file = 'migration'): OnlineIndexDirective[] {
  if (!isOnlineMigration(body)) {
    throw new PgpartsError('migration', `${file} does not start with ${ONLINE_MIGRATION_MARKER}`);
  }
  const found: OnlineIndexDirective[] = [];
  body.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    const where = `${file} line ${index + 1}`;
    // The longest prefix first: none is the start of another today, but a new one might be.
    const directive = ([...DIRECTIVES] as Directive[])
      .sort((a, b) => b.prefix.length - a.prefix.length)
      .find((d) => line.startsWith(d.prefix));
    if (directive) {
      let json: unknown;
      try {
        json = JSON.parse(line.slice(directive.prefix.length));
      } catch (error) {
        throw new PgpartsError(
          'migration',
          `${where}: the directive's JSON does not parse (not JSON)`,
          {
            cause: error,
          },
        );
      }
      const parsed = directive.schema.safeParse(json);
      if (!parsed.success) {
        throw new PgpartsError('migration', `${where}: ${issues(parsed.error)}`);
      }
      found.push(directive.read(parsed.data as never));
    } else if (line !== '' && !line.startsWith('--') && line !== ONLINE_MIGRATION_GUARD_SQL) {
      throw new PgpartsError(
        'migration',
        `${where}: an online migration holds only the guard and its directive lines (${DIRECTIVES.map((d) => d.prefix).join(', ')}); put other statements in a migration of their own`,
      );
    }
  });
  if (found.length === 0) {
    throw new PgpartsError(
      'migration',
      `${file} has no directive line (${DIRECTIVES.map((d) => d.prefix).join(', ')})`,
    );
  }
  return found;
}
