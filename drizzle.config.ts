import { defineConfig } from 'drizzle-kit';

/**
 * drizzle-kit sees partitions as ordinary tables and does not see partitioned parents at all
 * (docs/postgres-behaviours.md, "drizzle-kit does not know partitioning"). `generate` and
 * `migrate` are supported; `push` and `pull` are limited to this allowlist of non-partitioned
 * tables so they never propose dropping or recreating a partition.
 * test/migrations/drizzle-config.test.ts keeps the list in step with src/domains/schema.ts.
 */
export const PLAIN_TABLES = [
  'season',
  'period',
  'dungeon',
  'realm',
  'alliances',
  'corporations',
  'characters',
  'systems',
  'users',
  'users_characters',
  'surveillance_profiles',
  'surveillance_filters',
];

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/domains/schema.ts',
  out: './drizzle',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://localhost/postgres' },
  tablesFilter: PLAIN_TABLES,
  strict: true,
  verbose: true,
});
