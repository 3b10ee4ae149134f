import { noChangesMessage, refusesChanges } from '../run/standby.js';
import type { CliConnection } from './connection.js';
import { cliErr, setCliExitCode } from './io.js';

/**
 * Exit code of a command that would change something, run against a hot standby (or a database
 * whose transactions are read-only): it did nothing, on purpose. Distinct from 1 (an error) and
 * 2 (`status --check` found something), so a job scheduled on every node of a cluster can treat
 * "this node takes no writes" as expected.
 */
export const STANDBY_EXIT_CODE = 3;

/**
 * For commands that change something: on a hot standby or a read-only database, says so on
 * stderr, sets the exit code and returns true (the command then returns without running anything).
 */
export async function refuseOnStandby(conn: CliConnection, command: string): Promise<boolean> {
  const why = await refusesChanges(conn.db);
  if (!why) return false;
  cliErr(`pgparts: ${noChangesMessage(command, why)}`);
  setCliExitCode(STANDBY_EXIT_CODE);
  return true;
}
