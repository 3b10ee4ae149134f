import type { Command } from 'commander';
import { migrate } from '../migrations/migrate.js';
import { connect } from './connection.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pgparts migrations (tables, partitions, views) to the database')
    .action(async () => {
      const conn = connect(program.opts().databaseUrl);
      try {
        await migrate(conn.db);
        console.log(`migrated ${conn.label}`);
      } finally {
        await conn.close();
      }
    });
}
