import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadAppConfig } from '../migrations/app-config.js';
import { loadDrizzleConfigFor } from '../migrations/drizzle-config.js';
import { migrate, migrateDryRun } from '../migrations/migrate.js';
import type { OnlineIndexProgress } from '../migrations/online-directives.js';
import type { MigrationPreview } from '../migrations/preview.js';
import { connect } from './connection.js';
import { cliCwd, cliOut } from './io.js';
import {
  addLockOptions,
  DRIZZLE_CONFIG_HELP,
  type GlobalOptions,
  type LockOptions,
} from './options.js';
import { refuseOnStandby } from './standby.js';

export function registerMigrate(program: Command): void {
  addLockOptions(program.command('migrate'))
    .description(
      'apply pending migrations: with a config (--config, or pgparts.config.* in the current ' +
        "folder), the app's drizzle.config `out` folder (and pgparts's own when the config sets " +
        "packageMigrations); without one, pgparts's own tables",
    )
    .option('--drizzle-config <file>', DRIZZLE_CONFIG_HELP)
    .option(
      '--mark-applied <tags...>',
      'record these pending migrations as applied without running them (what they create exists already, e.g. tables an online conversion built); tags as the journal names them',
    )
    .option(
      '--dry-run',
      'print each pending migration and its statements (an online one as planned from the catalog now), changing nothing',
    )
    .option(
      '--allow-blocking-indexes',
      "apply a pending migration's plain CREATE INDEX on a partitioned table that holds data as written, while the writers of every partition wait for the build (refused otherwise: `pgparts generate` writes such an index as an online build)",
    )
    .action(
      async (
        options: {
          drizzleConfig?: string;
          markApplied?: string[];
          allowBlockingIndexes?: boolean;
          dryRun?: boolean;
        } & LockOptions,
      ) => {
        const global = program.opts<GlobalOptions>();
        let appOptions = {};
        if (global.config) {
          const config = await loadAppConfig(resolve(cliCwd(), global.config));
          const drizzle = await loadDrizzleConfigFor(
            global.config,
            options.drizzleConfig,
            cliCwd(),
          );
          appOptions = {
            appFolder: drizzle.out,
            appMigrationsSchema: drizzle.record.schema,
            appMigrationsTable: drizzle.record.table,
            packageMigrations: config.packageMigrations,
          };
        }
        const conn = await connect(global);
        try {
          const migrateOptions = {
            ...appOptions,
            lockTimeoutMs: options.lockTimeout,
            retries: options.retries,
            ...(options.markApplied ? { markApplied: options.markApplied } : {}),
            ...(options.allowBlockingIndexes ? { allowBlockingIndexes: true } : {}),
          };
          if (options.dryRun) {
            printPreview(await migrateDryRun(conn.db, migrateOptions), conn.label);
            return;
          }
          if (await refuseOnStandby(conn, 'migrate')) return;
          // migrate() checks the grants the records and the migrations need first.
          const result = await migrate(conn.db, {
            ...migrateOptions,
            onApplied: (m) => cliOut(`applied ${m.source} ${m.name} (${m.ms} ms)`),
            onOnlineIndex: (event) => cliOut(onlineIndexLine(event)),
          });
          for (const m of result.marked) {
            cliOut(`recorded ${m.source} ${m.name} as applied, without running it`);
          }
          if (result.carriedOver.length > 0) {
            cliOut(
              `carried over from drizzle.__drizzle_migrations: ${result.carriedOver.join(', ')}`,
            );
          }
          if (result.applied.length === 0 && result.marked.length === 0)
            cliOut(`nothing pending on ${conn.label}`);
          else cliOut(`migrated ${conn.label}: ${result.applied.length} applied`);
        } finally {
          await conn.close();
        }
      },
    );
}

/** A line for each step of an online migration: an index build can take minutes. */
export function onlineIndexLine(event: OnlineIndexProgress): string {
  switch (event.type) {
    case 'directive':
      switch (event.kind) {
        case 'build':
          return `${event.migration}: building ${event.index} on ${event.table} online`;
        case 'replace':
          return `${event.migration}: replacing ${event.index} on ${event.table} online (the new index built beside it, then swapped in)`;
        case 'rename':
          return `${event.migration}: renaming ${event.index} on ${event.table} to ${event.to}`;
        case 'drop':
          return `${event.migration}: dropping ${event.index} on ${event.table}`;
      }
      break;
    case 'partition':
      return `  ${event.index}: ${event.partition} (${event.done} of ${event.total})`;
    case 'swap':
      return `  ${event.index}: complete, swapping it in`;
  }
}

/** The dry run: each pending migration, how it would run, and its statements. */
function printPreview(previews: readonly MigrationPreview[], label: string): void {
  if (previews.length === 0) {
    cliOut(`nothing pending on ${label}`);
    return;
  }
  cliOut(`dry run on ${label}: ${previews.length} pending migration(s); nothing was changed`);
  for (const p of previews) {
    const how =
      p.how === 'transaction'
        ? 'in one transaction'
        : p.how === 'online'
          ? 'online, outside any transaction (planned from the catalog now)'
          : 'recorded as applied without running it (--mark-applied)';
    cliOut(`${p.source} ${p.name}, ${how}:`);
    for (const statement of p.statements) {
      for (const line of statement.trim().split('\n')) cliOut(`  ${line}`);
    }
  }
}
