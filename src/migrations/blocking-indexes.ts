import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import type { GeneratorState } from './generator-state.js';
import type { MigrationFile } from './journal.js';
import { migrationStatements } from './sql-statements.js';

/**
 * A migration that `drizzle-kit generate` wrote outside `pgparts generate` (a rename answered in a
 * terminal, or plain drizzle-kit by habit) holds each new or re-created index of a partitioned
 * table as a plain `CREATE INDEX` on the parent, which builds every partition's index in one
 * statement while their writers wait. generate would record that file as it is, and --check pass
 * after it, so generate refuses a file it has not recorded yet (nothing has applied it through
 * pgparts) that builds such an index. Recorded files are history and stay as they are, and an
 * index of a table no recorded family partitions is drizzle-kit's business.
 */

const IDENT = '(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)';
const CREATE_INDEX = new RegExp(
  `^CREATE\\s+(?:UNIQUE\\s+)?INDEX\\s+(?!CONCURRENTLY\\b)(?:IF\\s+NOT\\s+EXISTS\\s+)?(?:${IDENT}\\s+)?ON\\s+(?!ONLY\\b)(${IDENT})(?:\\s*\\.\\s*(${IDENT}))?`,
  'i',
);

const unquote = (ident: string) =>
  ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident.toLowerCase();

/**
 * The table a blocking `CREATE [UNIQUE] INDEX ... ON` statement builds on, if it is one: its
 * schema (`public` when the statement names none) and name, and the name as the statement wrote
 * it (resolved by the server's search_path, as the statement would be).
 */
export function blockingIndexTable(
  statement: string,
): { schema: string; name: string; written: string } | undefined {
  const text = statement.replace(/^(?:\s*--[^\n]*\n)*\s*/, '');
  const found = CREATE_INDEX.exec(text);
  if (!found?.[1]) return undefined;
  return found[2]
    ? { schema: unquote(found[1]), name: unquote(found[2]), written: `${found[1]}.${found[2]}` }
    : { schema: 'public', name: unquote(found[1]), written: found[1] };
}

export function checkBlockingIndexes(
  files: readonly MigrationFile[],
  state: GeneratorState,
  families: readonly FamilySpec[],
): void {
  const partitioned = new Set<string>();
  for (const family of families) {
    for (const table of state.families[family.name]?.tables ?? []) {
      partitioned.add(`${family.schema}.${table}`);
    }
  }
  for (const file of files) {
    if (state.migrations[file.tag] !== undefined || file.online) continue;
    // Split by `;` too: a `breakpoints: false` file has no markers between its statements.
    const statements = migrationStatements(file.text);
    const blocking = statements.filter((statement) => {
      const table = blockingIndexTable(statement);
      return table !== undefined && partitioned.has(`${table.schema}.${table.name}`);
    });
    if (blocking.length === 0) continue;
    const renames = statements.some((s) => /\bRENAME\s+COLUMN\b/i.test(s));
    throw new PgpartsError(
      'migration',
      `pgparts: ${file.tag}.sql, not yet recorded by \`pgparts generate\`, builds an index on a ` +
        'partitioned table with a plain CREATE INDEX, which holds the writers of every partition ' +
        `for the whole build:\n  ${blocking.join('\n  ')}\nNothing was written. ` +
        (renames
          ? 'The file renames a column, and PostgreSQL keeps the indexes through RENAME COLUMN: ' +
            'delete its DROP INDEX and CREATE INDEX lines for the renamed column (keep the ' +
            'RENAME), then run `pgparts generate`. For an index that is new or changed, remove'
          : 'Remove') +
        ' the file (`npx drizzle-kit drop`, or delete it, its meta/*_snapshot.json and its ' +
        'journal entry) and run `pgparts generate`, which writes the index as an online build ' +
        '(-- pgparts:online); deleting only the statement would leave the index out of every ' +
        "migration, since drizzle-kit's snapshot already has it.",
    );
  }
}
