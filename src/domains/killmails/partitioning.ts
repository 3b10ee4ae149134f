import { partitionFamily } from '../../define/spec.js';
import { killmailParticipants, killmailsEnriched, killmailsRaw } from './tables.js';

/**
 * raw, enriched and participants: RANGE by killmail_time, one partition per UTC month, the same
 * bounds for all three. No DEFAULT partition, on purpose:
 * - months are known in advance, so premaking 3 ahead covers every live insert;
 * - a DEFAULT partition makes every new partition scan it under lock (docs/postgres-behaviours.md#default-partition-and-new-partitions) and forbids
 *   DETACH ... CONCURRENTLY, which retention wants (docs/postgres-behaviours.md#detach-concurrently-and-default);
 * - an insert for a month nobody created fails loudly (docs/postgres-behaviours.md#no-partition-for-row) instead of piling up in DEFAULT,
 *   and `pgparts status --check` alerts well before the premade window runs out.
 * A fresh install also creates the 12 past months, so a year of history can be backfilled.
 */
export const killmailFamily = partitionFamily({
  name: 'killmails',
  tables: [killmailsRaw, killmailsEnriched, killmailParticipants],
  partitionBy: {
    strategy: 'range',
    column: 'killmail_time',
    interval: 'month',
    premake: 3,
    past: 12,
  },
  defaultPartition: false,
  retention: { keep: 12, mode: 'drop' },
});
