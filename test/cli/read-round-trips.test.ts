import { afterAll, describe, expect, it } from 'vitest';
import { messageTypes, type Relay, startRelay } from '../support/protocol-relay.js';
import { useTestDatabase } from '../support/test-database.js';
import { pgparts } from './run-cli.js';

const t = useTestDatabase();
const relays: Relay[] = [];
afterAll(async () => {
  for (const relay of relays) await relay.close();
});

/**
 * The commands that only read run on a connection of their own, which the CLI opens for them:
 * postgres.js sends a statement with parameters that its connection has not prepared in two
 * round trips (Parse and Describe, then a Flush to have the parameter types back before it can
 * bind), and nothing goes out behind it meanwhile. On the CLI's new connection that was every
 * statement of the catalog read. Counted at the socket: the Flushes the client sends.
 */
describe('status, plan and apply --dry-run', () => {
  it('send no statement that first waits for its parameter types', async () => {
    let flushes = 0;
    const relay = await startRelay(t.url, {
      onClientData: () =>
        messageTypes((type) => {
          if (type === 'H') flushes += 1;
        }, true),
    });
    relays.push(relay);
    const counted: Record<string, number> = {};
    for (const args of [['status'], ['plan'], ['apply', '--dry-run']]) {
      flushes = 0;
      const run = await pgparts(relay.url, ...args);
      expect(run.code, run.stderr).toBe(0);
      // It did read: the families, or that every declared partition exists.
      expect(run.stdout).toMatch(/leaderboard_run|every declared partition exists/);
      counted[args.join(' ')] = flushes;
    }
    expect(counted).toEqual({ status: 0, plan: 0, 'apply --dry-run': 0 });
  });
});
