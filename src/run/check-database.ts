import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from './database.js';
import { isDrizzleTransaction } from './driver-capabilities.js';

/**
 * What a value given where a Drizzle database belongs is, in words that say how to wrap it:
 * the usual slip is the driver's client itself (a postgres.js `sql`, a node-postgres Pool).
 */
function describeNotDrizzle(db: unknown): string {
  if (db === null || db === undefined) return `got ${db}`;
  const ctor = (Object.getPrototypeOf(db) as { constructor?: { name?: string } } | null)
    ?.constructor?.name;
  if (typeof db === 'function' && typeof (db as { unsafe?: unknown }).unsafe === 'function') {
    return "got postgres.js's client itself: pass drizzle(sql) (from 'drizzle-orm/postgres-js')";
  }
  if (ctor && /^(Bound)?Pool$|^Client$/.test(ctor)) {
    return `got a node-postgres ${ctor.replace('Bound', '')} itself: pass drizzle(${ctor === 'Client' ? 'client' : 'pool'}) (from 'drizzle-orm/node-postgres')`;
  }
  if (ctor === 'PGlite')
    return "got a PGlite itself: pass drizzle(pglite) (from 'drizzle-orm/pglite')";
  return `got ${typeof db === 'object' ? (ctor ?? 'an object') : typeof db}`;
}

/**
 * Refuses, before anything runs, a `db` that is no Drizzle PostgreSQL database (a
 * `query-failed` TypeError deep inside otherwise), one over a postgres.js client that
 * transforms the rows it returns, and, with `notInTransaction`, a Drizzle
 * transaction, for operations whose statements PostgreSQL runs only outside one.
 */
export function checkDatabase(
  operation: string,
  db: unknown,
  options: { notInTransaction?: string } = {},
): asserts db is AnyPgDatabase {
  const drizzleLike =
    db !== null &&
    typeof db === 'object' &&
    typeof (db as { execute?: unknown }).execute === 'function' &&
    typeof (db as { transaction?: unknown }).transaction === 'function';
  if (!drizzleLike) {
    throw new PgpartsError(
      'invalid-input',
      `pgparts: ${operation}: the database must be a Drizzle PostgreSQL database (postgres.js, node-postgres or PGlite); ${describeNotDrizzle(db)}`,
    );
  }
  const transforms = readTransforms(db);
  if (transforms.length > 0) {
    throw new PgpartsError(
      'unsupported-driver',
      `pgparts: ${operation}: the database's postgres.js client changes what it returns (its \`transform\` option: ${transforms.join(', ')}), and pgparts reads the columns of its own statements by their names; give pgparts a Drizzle database over a client made without \`transform\` (a second postgres(url, { max: 2 }) beside the app's); nothing was changed`,
    );
  }
  if (options.notInTransaction && isDrizzleTransaction(db as AnyPgDatabase)) {
    throw new PgpartsError(
      'unsupported-driver',
      `pgparts: ${operation}: given a transaction, but ${options.notInTransaction}, which PostgreSQL refuses inside a transaction block; pass the database itself; nothing was changed`,
    );
  }
}

/**
 * What a postgres.js client's `transform` option changes in the rows it returns: a column name
 * transform (`postgres.camel` and the like) renames `key_columns` to `keyColumns`, and pgparts
 * would read nothing where it reads its columns. (`transform: { undefined }` and the `to`
 * transforms change only what is sent: allowed.)
 */
function readTransforms(db: object): string[] {
  const client = (db as { $client?: unknown }).$client;
  if (typeof client !== 'function') return [];
  const transform = (client as { options?: { transform?: unknown } }).options?.transform;
  if (!transform || typeof transform !== 'object') return [];
  const from = (kind: string) =>
    typeof (transform as Record<string, { from?: unknown } | undefined>)[kind]?.from === 'function';
  return (['column', 'value', 'row'] as const).filter(from).map((kind) => `${kind}.from`);
}
