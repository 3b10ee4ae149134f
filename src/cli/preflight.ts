import type { FamilySpec } from '../define/spec.js';
import {
  type PreflightOptions,
  type PrivilegedCommand,
  preflightPrivileges,
} from '../run/privileges.js';
import type { CliConnection } from './connection.js';
import { cliErr } from './io.js';

/**
 * The API's own privilege check (run/privileges.ts), run by the CLI where it adds something:
 * the advisory notes (a slower path) printed, one check before a series of API calls
 * (convert's steps), or before apply asks about destructive steps. A missing required privilege
 * stops the command (a `permission` error, exit 1). migrate, apply, drain, retire, reattach,
 * unretire and every convert step run it themselves, in the API.
 */
export async function checkPrivileges(
  conn: CliConnection,
  command: PrivilegedCommand,
  families: readonly FamilySpec[],
  options: PreflightOptions = {},
): Promise<void> {
  await preflightPrivileges(conn.db, command, families, {
    ...options,
    onNote: (m) => cliErr(`pgparts: note: the role lacks ${m.needed}\n  ${m.grant}`),
  });
}
