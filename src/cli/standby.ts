import { isHotStandby, standbyMessage } from '../run/standby.js';
import type { CliConnection } from './connection.js';
import { cliErr, setCliExitCode } from './io.js';

/**
 * Exit code of a command that would change something, run against a hot standby: it did
 * nothing, on purpose. Distinct from 1 (an error) and 2 (`status --check` found something), so
 * a job scheduled on every node of a cluster can treat "this node is a standby" as expected.
 */
export const STANDBY_EXIT_CODE = 3;

/**
 * For commands that change something: on a hot standby, says so on stderr, sets the exit code
 * and returns true (the command then returns without running anything).
 */
export async function refuseOnStandby(conn: CliConnection, command: string): Promise<boolean> {
  if (!(await isHotStandby(conn.db))) return false;
  cliErr(`pgparts: ${standbyMessage(command)}`);
  setCliExitCode(STANDBY_EXIT_CODE);
  return true;
}
