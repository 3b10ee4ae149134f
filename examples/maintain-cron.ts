/**
 * Partition maintenance as a cron job: rolls the premade window forward, gives new seasons
 * their partitions, and (with --yes) applies retention. What `pgparts apply` does, from code:
 *
 *   # crontab: every hour
 *   0 * * * *  DATABASE_URL=postgres://user:pass@host/db npx tsx /app/examples/maintain-cron.ts --yes
 *
 * Exit code 0 when all went well or another run held the lock, 1 when a step failed (a lock
 * that could not be had within lock_timeout after every retry: the next run tries again).
 * Without DATABASE_URL it starts its own PostgreSQL, as `npm run demo` does.
 */
import { connect } from 'node:net';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
// In an app: from 'pgparts' and 'pgparts/presets'.
import { builtInFamilies } from '../src/domains/presets.js';
import { maintain } from '../src/index.js';
import { withExampleDatabase } from './support/example-database.js';

const allowDestructive = process.argv.includes('--yes');

await withExampleDatabase('cron_example', async (url) => {
  // Nagle's algorithm off, as node-postgres and libpq have it (postgres.js leaves it on): pgparts
  // pipelines its statements, and on a server across a network the second write of a batch
  // would wait for the server's acknowledgement of the first. (postgres.js takes `socket`,
  // though its types do not declare it.)
  const socket = (to: { host: string[]; port: number[]; path?: string }) =>
    to.path
      ? connect(to.path)
      : connect({ host: to.host[0], port: to.port[0] ?? 5432, noDelay: true });
  const client = postgres(url, { max: 2, onnotice: () => {}, socket } as postgres.Options<
    Record<string, postgres.PostgresType>
  >);
  try {
    const result = await maintain(drizzle(client), {
      families: builtInFamilies,
      allowDestructive,
      lockTimeoutMs: 3000,
      onProgress: (event) => {
        if (event.type === 'step-end') {
          const { step, outcome, message } = event.result;
          console.log(
            `${step.kind} ${step.partitions.join(', ')}: ${outcome}${message ? ` (${message})` : ''}`,
          );
        } else if (event.type === 'step-retry') {
          console.log(
            `${event.step.kind} ${event.step.label}: retry ${event.attempt} in ${event.delayMs} ms`,
          );
        }
      },
    });
    if (result.status === 'locked') {
      console.log(
        `another run holds the maintenance lock (backend ${result.lockHolderPid}); nothing to do`,
      );
    } else {
      console.log(
        `${new Date().toISOString()} ${result.done} done, ${result.skipped} skipped, ${result.failed} failed`,
      );
    }
    process.exitCode = result.ok ? 0 : 1;
  } finally {
    // With a timeout: after a connection died under a statement, postgres.js 3.4's end() waits
    // for ever without one (README, Drivers).
    await client.end({ timeout: 5 });
  }
});
