/**
 * Every table of both domains, for drizzle-kit (drizzle.config.ts points here) and for apps that
 * want one schema object. The top_keys_* views are declared `.existing()`: their SQL is in the
 * partition migration, so drizzle-kit leaves them alone.
 */
export * from './killmails/tables.js';
export * from './leaderboard/tables.js';
