import { defineConfig } from 'drizzle-kit';
import { pgpartsTablesFilter } from 'pgparts';
import { families } from './pgparts.config';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/schema.ts',
  out: './drizzle',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://localhost/app' },
  // push and pull must not see partitions or partitioned parents (pgparts keeps those).
  tablesFilter: pgpartsTablesFilter(families),
});
