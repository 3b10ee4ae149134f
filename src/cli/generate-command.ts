import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { PgpartsError } from '../errors.js';
import { generate } from '../migrations/generate.js';
import {
  directiveSubject,
  isOnlineMigration,
  onlineIndexDirectives,
} from '../ops/online-index-migration.js';
import { configFileIn, configNamesTried } from './config-file.js';
import { cliCwd, cliErr, cliOut, setCliExitCode } from './io.js';
import { DRIZZLE_CONFIG_HELP, type GlobalOptions } from './options.js';

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description(
      "write new migrations into the drizzle.config `out` folder: drizzle-kit's for the schema, " +
        'PARTITION BY on new partitioned tables, their first partitions, extensions and objects ' +
        'Drizzle cannot declare, and new indexes on existing partitioned tables as online builds ' +
        '(-- pgparts:online, built by pgparts migrate); never edits a migration already in the journal',
    )
    .option('--drizzle-config <file>', DRIZZLE_CONFIG_HELP)
    .option(
      '--check',
      'write nothing; exit 1 when the schema or the specs changed without a migration, or a journaled migration was edited',
    )
    .action(async (options: { drizzleConfig?: string; check?: boolean }) => {
      const global = program.opts<GlobalOptions>();
      const cwd = cliCwd();
      const config = global.config ?? configFileIn(cwd);
      if (!config) {
        throw new PgpartsError(
          'invalid-config',
          `pgparts: generate: ${configNamesTried(cwd)}; name it with --config`,
        );
      }
      const result = await generate({
        cwd,
        config,
        drizzleConfig: options.drizzleConfig,
        check: options.check,
      });
      if (options.check) {
        if (result.stale.length > 0) {
          cliErr(
            `pgparts: ${result.out} is stale; run \`pgparts generate\` and commit. It would change:\n  ${result.stale.join('\n  ')}`,
          );
          setCliExitCode(1);
          return;
        }
        cliOut(`${result.out} is up to date with the schema and the partition specs`);
        return;
      }
      cliOut(
        result.written.length > 0
          ? `wrote ${result.written.map((t) => `${t}.sql`).join(', ')}`
          : 'nothing to write: the migrations are up to date',
      );
      for (const line of onlineLines(result.out, result.written)) cliOut(line);
    });
}

/** What each online migration written does, a line per index: it is not drizzle-kit's SQL. */
function onlineLines(out: string, tags: readonly string[]): string[] {
  const lines: string[] = [];
  for (const tag of tags) {
    const text = readFileSync(join(out, `${tag}.sql`), 'utf8');
    if (!isOnlineMigration(text)) continue;
    for (const directive of onlineIndexDirectives(text, tag)) {
      const { kind, table, index, to } = directiveSubject(directive);
      const done = {
        build: 'built online',
        replace: 'replaced online (built beside the old one, swapped in once complete)',
        rename: `renamed ${to} in place`,
        drop: 'dropped after the indexes above are built',
      }[kind];
      lines.push(`  ${tag}.sql: ${index} on ${table.schema}.${table.name} ${done}`);
    }
  }
  return lines;
}
