import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from '../run/database.js';
import { run } from '../run/execute.js';
import { buildIndexOnline } from './online-index-seam.js';

/** A step of an online migration that is not SQL but an index to build online (runner.ts). */
export const CREATE_INDEX_ONLINE = '-- pgparts:create-index-online ';

/** The guard an online migration opens with: under plain drizzle-kit migrate it stops first. */
export const ONLINE_GUARD_SQL = `DO $$ BEGIN IF current_setting('pgparts.migrate', true) IS DISTINCT FROM 'on' THEN RAISE EXCEPTION 'this migration builds indexes online; run it with pgparts migrate'; END IF; END $$;`;

/** Runs one statement of an online migration on the pinned session, outside any transaction. */
export async function runOnlineStatement(db: AnyPgDatabase, statement: string): Promise<void> {
  const text = statement.trim();
  if (text.startsWith(CREATE_INDEX_ONLINE)) {
    const json = text.slice(CREATE_INDEX_ONLINE.length).split('\n')[0] ?? '';
    let spec: unknown;
    try {
      spec = JSON.parse(json);
    } catch {
      throw new PgpartsError('migration', `pgparts: unreadable online index step: ${json}`);
    }
    await buildIndexOnline(db, spec);
    return;
  }
  await run(db, text);
}
