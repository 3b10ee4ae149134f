import { isPgpartsError } from '../errors.js';
import { buildIndexOnline, dropIndex, formatIndexBuildPlan } from '../ops/online-index.js';
import { directiveSubject, onlineIndexDirectives } from '../ops/online-index-migration.js';
import { renameIndexOnline } from '../ops/online-index-rename.js';
import type { AnyPgDatabase } from '../run/database.js';
import { DEFAULT_LOCK_TIMEOUT_MS } from '../run/lock-timeout.js';
import type { MigrationFile } from './journal.js';
import { refuseOtherTablesIndex } from './online-directives.js';
import { pendingMigrations, readSources, refuseBlockingPending } from './pending.js';
import type { MigrationSource, RunMigrationsOptions } from './runner.js';

/**
 * migrate's dry run: what `migrate` would do, read from the folders and the database, changing
 * nothing (no record table made, no carry-over, no migration lock taken). Each pending migration
 * with its statements: a plain one's as written, run in one transaction; an online one's as its
 * directives plan them from the catalog as it is now (the exact statements of an index build,
 * replacement, rename or drop). An online migration after another pending one is planned from
 * the catalog before that one runs, so what an earlier one creates is not there yet: such a
 * directive says so instead of its statements.
 */

export interface MigrationPreview {
  source: string;
  name: string;
  /** 'transaction': its statements run in one; 'online': its directives, outside any. */
  how: 'transaction' | 'online' | 'mark-applied';
  /** The statements, or for an online migration the plan printed for each directive. */
  statements: string[];
}

export async function previewMigrations(
  db: AnyPgDatabase,
  sources: readonly MigrationSource[],
  options: RunMigrationsOptions = {},
): Promise<MigrationPreview[]> {
  const mark = new Set(options.markApplied ?? []);
  const perSource = await readSources(db, sources, mark);
  const pending = await pendingMigrations(db, perSource, true);
  if (!options.allowBlockingIndexes) await refuseBlockingPending(db, pending, mark);
  const previews: MigrationPreview[] = [];
  for (const [position, { source, file }] of pending.entries()) {
    const base = { source: source.label, name: file.tag };
    if (mark.has(file.tag)) previews.push({ ...base, how: 'mark-applied', statements: [] });
    else if (!file.online)
      previews.push({ ...base, how: 'transaction', statements: file.statements });
    else
      previews.push({
        ...base,
        how: 'online',
        statements: await onlinePlan(db, file, options, position > 0),
      });
  }
  return previews;
}

/** Each directive's plan, printed; where the catalog cannot plan it yet, why. */
async function onlinePlan(
  db: AnyPgDatabase,
  file: MigrationFile,
  options: RunMigrationsOptions,
  afterOthers: boolean,
): Promise<string[]> {
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const lines: string[] = [];
  for (const directive of onlineIndexDirectives(file.text, file.tag)) {
    try {
      if (directive.kind === 'build') {
        const { plan } = await buildIndexOnline(db, directive.spec, {
          dryRun: true,
          replace: directive.replace,
          lockTimeoutMs,
        });
        lines.push(...formatIndexBuildPlan(plan).trimEnd().split('\n'));
      } else if (directive.kind === 'rename') {
        const { table, from, to } = directive.rename;
        const plan = await renameIndexOnline(db, directive.rename, { dryRun: true });
        lines.push(
          plan.done
            ? `-- index ${table.schema}.${from} on ${table.schema}.${table.name}: renamed ${to} already, nothing to run`
            : `-- index ${table.schema}.${from} on ${table.schema}.${table.name} renamed ${to}, in one transaction under lock_timeout ${lockTimeoutMs} ms`,
          ...plan.statements.map((s) => `${s};`),
        );
      } else {
        const { table, name } = directive.drop;
        await refuseOtherTablesIndex(db, directive.drop);
        lines.push(
          `-- index ${table.schema}.${name} on ${table.schema}.${table.name} dropped, under lock_timeout, retried`,
          ...(
            await dropIndex(db, { schema: table.schema, name }, { dryRun: true, lockTimeoutMs })
          ).map((s) => `${s};`),
        );
      }
    } catch (error) {
      // Planned from the catalog as it is now: an earlier pending migration may make what this
      // one needs (its table). Anything else is what the run itself would meet.
      if (!afterOthers || !isPgpartsError(error) || error.code === 'connection') throw error;
      lines.push(
        `-- ${directiveSubject(directive).index}: planned when it runs, after the pending migrations before it (from the catalog now: ${error.message.replace(/^pgparts: /, '')})`,
      );
    }
  }
  return lines;
}
