import { familyMigrationSql } from '../core/ddl.js';
import { killmailFamily } from './partitioning.js';

/** The killmail feed's part of the partition migration: its first window of monthly partitions. */
export function killmailMigrationSql(): string[] {
  return familyMigrationSql(killmailFamily);
}
