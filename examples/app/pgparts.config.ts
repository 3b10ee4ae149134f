import { partitionFamily } from 'pgparts';
import { appEvents, regionOrders } from './src/schema';

/**
 * What pgparts keeps partitioned. `pgparts generate` writes the migrations that create these
 * tables partitioned with their first partitions; `pgparts apply` keeps them so (new days ahead,
 * retention, new regions).
 */
export const families = [
  partitionFamily({
    name: 'app_events',
    tables: [appEvents],
    partitionBy: { strategy: 'range', column: 'occurredAt', interval: 'day', premake: 7, past: 3 },
    retention: { keep: 30 },
  }),
  partitionFamily({
    name: 'region_orders',
    tables: [regionOrders],
    partitionBy: {
      strategy: 'list',
      column: 'region',
      values: ['eu-west', 'us-east', 'ap-south'],
      // region_orders_eu_west: a text value becomes lower case, other characters _.
      naming: '{table}_{value}',
    },
    defaultPartition: true,
  }),
];

/**
 * DDL Drizzle cannot declare, written into a migration once, when its name is new. Here a larger
 * statistics sample for the JSON payload (searched with `@>`): the parent's target reaches the
 * partitions that exist, and `pgparts apply` gives it to every partition it creates.
 */
export const objects = [
  {
    name: 'app_events_payload_statistics',
    sql: ['ALTER TABLE "app_events" ALTER COLUMN "payload" SET STATISTICS 1000'],
  },
];
