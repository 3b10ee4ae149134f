import { defineConfig } from 'drizzle-kit';
import { pgpartsTablesFilter } from 'pgparts';
import { families } from './pgparts.config';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/schema.ts',
  out: './drizzle',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://localhost/app' },
  // pull must not see partitions, parents or pgparts's own tables (pgparts keeps those); push is
  // not for an app with partitioned tables: use pgparts generate and migrate.
  tablesFilter: pgpartsTablesFilter(families),
});
