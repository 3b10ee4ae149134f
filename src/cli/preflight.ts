import type { FamilySpec } from '../define/spec.js';
import {
  assertPrivileges,
  missingPrivileges,
  type PreflightOptions,
  type PrivilegedCommand,
} from '../run/privileges.js';
import type { CliConnection } from './connection.js';
import { cliErr } from './io.js';

/**
 * Before a command changes anything: every privilege it needs that the role lacks, with the
 * GRANT that fixes it. A missing required one stops the command (a `permission` error, exit 1);
 * an advisory one (a slower path) is printed and the command runs.
 */
export async function checkPrivileges(
  conn: CliConnection,
  command: PrivilegedCommand,
  families: readonly FamilySpec[],
  options: PreflightOptions = {},
): Promise<void> {
  const missing = await missingPrivileges(conn.db, command, families, options);
  for (const m of missing.filter((x) => x.severity === 'advisory')) {
    cliErr(`pgparts: note: the role lacks ${m.needed}\n  ${m.grant}`);
  }
  assertPrivileges(command, missing);
}
