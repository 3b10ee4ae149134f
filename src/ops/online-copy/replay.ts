import { type SQL, sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../../run/database.js';
import { afterSentOn, run } from '../../run/execute.js';
import { rowsOf } from '../../run/rows.js';
import { quoteIdent } from '../../sql/identifiers.js';
import type { ChangeLog } from './capture.js';

/**
 * The replay of a change log (capture.ts), the same statement for a drain and a conversion: ONE
 * statement per batch, run on the server (no row leaves it).
 * 1. take up to `limit` entries off the log in id order (DELETE ... RETURNING);
 * 2. per table logged, the current version of each key changed: for a `rows` log the last image
 *    (latest id; within one update the new image over the old), for a `keys` log the row the
 *    source holds now under that key. Each key is live (a row exists) or removed;
 * 3. per copy of that table (a target, with an optional filter on the row: a drain's staging
 *    table holds the key's rows, its rebuilt DEFAULT the others), DELETE ... USING the keys that
 *    are removed or no longer pass the filter, INSERT ... ON CONFLICT DO UPDATE the rows that
 *    pass it. A row whose key moved it from one target to another leaves the first and lands in
 *    the second in the same statement.
 *
 * Why one statement with one action per key (the removals run first: see replaySql): the
 * entries taken and the rows written commit or fail together and read one snapshot (an entry whose writer commits later is not taken, and
 * stays for the next batch; a change taken is one the snapshot sees). No row that still exists
 * is deleted and inserted again: a delete would cascade into a referencing table and take rows
 * never logged with it (the cascade trap of docs/postgres-behaviours.md#cascade-on-move, in
 * another form). Foreign keys between the targets are checked at the statement's end, so the
 * order of the parts does not matter. Per key, log order is commit order (a second change of a
 * row waits for the first one's transaction before its trigger logs it), so the replay is
 * idempotent and converges: replaying a key's current version twice leaves the same row.
 *
 * A target may be `counted`: the statement then also returns how many rows it gained (rows of
 * the batch's keys it holds after, minus before; the main query reads the snapshot the parts
 * changed, so the "before" is exact). A drain knows how many rows its staging table holds
 * without counting it.
 */

/**
 * A statement whose values are bound at run time: text chunks, and the 1-based numbers of the
 * parameters between them. Built before it runs: a dry run prints it with $n placeholders. A
 * template without numbers is plain SQL, run as printed.
 */
export type Template = readonly (string | number)[];

/** The statement as a dry run shows it. */
export function templateText(template: Template): string {
  return template.map((c) => (typeof c === 'number' ? `$${c}` : c)).join('');
}

function bind(template: Template, values: readonly unknown[]): SQL {
  if (!template.some((c) => typeof c === 'number')) return sql.raw(templateText(template));
  return sql.join(
    template.map((c) => (typeof c === 'number' ? sql`${values[c - 1]}` : sql.raw(c))),
    sql.raw(''),
  );
}

/** A value in a replay statement: a parameter's number, or a literal's SQL text. */
export type Value = number | string;

export interface ReplayTarget {
  /** The copy, qualified. */
  table: string;
  /** A condition on the row (by the alias given) a row meets to belong here; absent: every row does. */
  filter?: (alias: string) => string;
  /** Also return the rows it gained (column gainedColumn(flow, target)). */
  counted?: boolean;
}

/** One table whose logged changes are replayed, into its targets. */
export interface ReplayFlow {
  /** Its entries: the log's table column equals this. */
  logged: Value;
  /**
   * rows log: the row type the images decode with (the targets'). keys log: the table whose
   * current rows are copied, and the row type the logged keys decode with.
   */
  current: { image: string } | { source: string; keyType: string };
  /** The targets' key (a keys log: the source's too). */
  key: readonly string[];
  columns: readonly string[];
  targets: readonly ReplayTarget[];
}

export interface ReplaySpec {
  log: ChangeLog;
  /** Further equalities that pick the entries out of the log (a conversion: family, direction). */
  scope: readonly (readonly [string, Value])[];
  /** Only entries with after < id <= upTo (each NULL: unbounded); absent: the whole log. */
  range?: { after: Value; upTo: Value };
  limit: Value;
  flows: readonly ReplayFlow[];
}

const cols = (columns: readonly string[], prefix = '') =>
  columns.map((c) => `${prefix}${quoteIdent(c)}`).join(', ');

/**
 * The log's own columns a batch carries, by shape. The log's column names (here, `tableColumn`
 * and the scope's) are pgparts's fixed lowercase names, written as they are.
 */
const ENTRY_COLUMNS = { keys: 'pk', rows: 'old_row, new_row' } as const;

/** The column of target j that says whether a key's current row belongs to it (its filter holds). */
const into = (j: number) => quoteIdent(`into_${j}`);

/**
 * A name for a whole row (`alias AS r`) that is no column of the table: a bare name that is also
 * a column resolves to the column, or is ambiguous, instead of the row (a family with a column
 * `k` or `d` failed every drain).
 */
function rowAlias(base: string, columns: readonly string[]): string {
  let alias = base;
  for (let n = 1; columns.includes(alias); n++) alias = `${base}_${n}`;
  return alias;
}

function currentVersion(spec: ReplaySpec, flow: ReplayFlow, i: number): Template {
  const tableColumn = spec.log.tableColumn;
  const row = rowAlias('pgparts_row', flow.columns);
  const key = rowAlias('pgparts_key', flow.columns);
  const keyD = cols(flow.key, `${row}.`);
  const intos = (live: string) =>
    flow.targets
      .map((t, j) => (t.filter ? `, (${live} AND ${t.filter(row)}) IS TRUE AS ${into(j)}` : ''))
      .join('');
  const last = quoteIdent(`last_${i}`);
  if ('image' in flow.current) {
    return [
      `, ${last} AS (SELECT DISTINCT ON (${keyD}) e.live, ${row} AS k, ${row} AS r${intos('e.live')} FROM taken c ` +
        'CROSS JOIN LATERAL (VALUES (0, c.old_row, false), (1, c.new_row, true)) e(side, image, live) ' +
        `CROSS JOIN LATERAL jsonb_populate_record(NULL::${flow.current.image}, e.image) ${row} ` +
        `WHERE c.${tableColumn} = `,
      flow.logged,
      `::text AND e.image IS NOT NULL ORDER BY ${keyD}, c.id DESC, e.side DESC)`,
    ];
  }
  const keys = quoteIdent(`keys_${i}`);
  const live = `${row}.${quoteIdent(flow.key[0] ?? '')} IS NOT NULL`;
  return [
    // The logged keys decoded into typed columns: plain equalities on them let the planner use
    // the primary key indexes of the source and the targets.
    `, ${keys} AS (SELECT DISTINCT ${cols(flow.key, `${key}.`)} FROM taken c ` +
      `CROSS JOIN LATERAL jsonb_populate_record(NULL::${flow.current.keyType}, c.pk) ${key} ` +
      `WHERE c.${tableColumn} = `,
    flow.logged,
    '::text)',
    `, ${last} AS (SELECT ${live} AS live, ${key} AS k, ${row} AS r${intos(live)} FROM ${keys} ${key} ` +
      `LEFT JOIN ${flow.current.source} ${row} ON ${flow.key.map((c) => `${row}.${quoteIdent(c)} = ${key}.${quoteIdent(c)}`).join(' AND ')})`,
  ];
}

/** The column of a replay's result with the rows a counted target (flow i, target j) gained. */
export const gainedColumn = (i: number, j: number) => `gained_${i}_${j}`;

/** The replay statement (see above). Returns one row: taken, last_id, gained_<i>_<j>. */
export function replaySql(spec: ReplaySpec): Template {
  const log = spec.log.table;
  const where: Template = spec.scope.flatMap(
    ([column, value]): Template => [`${column} = `, value, '::text AND '],
  );
  const range: Template = spec.range
    ? [
        '(',
        spec.range.after,
        '::bigint IS NULL OR id > ',
        spec.range.after,
        '::bigint) AND (',
        spec.range.upTo,
        '::bigint IS NULL OR id <= ',
        spec.range.upTo,
        '::bigint)',
      ]
    : ['TRUE'];
  const parts: Template[] = [
    [`WITH taken AS (DELETE FROM ${log} WHERE id IN (SELECT id FROM ${log} WHERE `],
    where,
    range,
    [' ORDER BY id LIMIT ', spec.limit, '::int) '],
    [`RETURNING id, ${spec.log.tableColumn}, ${ENTRY_COLUMNS[spec.log.shape]})`],
  ];
  const counts: string[] = [];
  spec.flows.forEach((flow, i) => {
    parts.push(currentVersion(spec, flow, i));
    const last = quoteIdent(`last_${i}`);
    const match = flow.key.map((c) => `t.${quoteIdent(c)} = (x.k).${quoteIdent(c)}`).join(' AND ');
    const rest = flow.columns.filter((c) => !flow.key.includes(c));
    const onConflict =
      rest.length > 0
        ? `DO UPDATE SET ${rest.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`
        : 'DO NOTHING';
    flow.targets.forEach((target, j) => {
      const belongs = target.filter ? `x.${into(j)}` : 'x.live';
      // Removed keys go first, then the current rows are written: a row whose key changed (or
      // one deleted and another inserted with its value of another unique key) would otherwise
      // meet the old row still holding that value, as sibling CTEs run in no set order. The
      // written CTE reads the removed one's count, which runs the DELETE to its end before any
      // INSERT; a unique check then sees those rows as gone (deleted by this transaction).
      const removed = quoteIdent(`removed_${i}_${j}`);
      parts.push([
        `, ${removed} AS (DELETE FROM ${target.table} t USING ${last} x ` +
          `WHERE NOT ${belongs} AND ${match} RETURNING 1)`,
        `, ${quoteIdent(`written_${i}_${j}`)} AS (INSERT INTO ${target.table} (${cols(flow.columns)}) ` +
          `SELECT ${cols(flow.columns, '(x.r).')} FROM ${last} x ` +
          `WHERE ${belongs} AND (SELECT count(*) FROM ${removed}) >= 0 ON CONFLICT (${cols(flow.key)}) ${onConflict})`,
      ]);
      if (target.counted) {
        counts.push(
          `, (SELECT count(*) FROM ${last} x WHERE ${belongs})::int - ` +
            `(SELECT count(*) FROM ${target.table} t JOIN ${last} x ON ${match})::int AS ${quoteIdent(gainedColumn(i, j))}`,
        );
      }
    });
  });
  parts.push([
    ` SELECT count(*)::int AS taken, max(id)::text AS last_id${counts.join('')} FROM taken`,
  ]);
  return parts.flat();
}

/**
 * Planner settings of a replay's transaction, set before its statement and restored after.
 * Each key of a batch is looked up by its primary key: index lookups, never a hash or merge
 * join or a sequential scan reading a whole table per batch (under a lock, at the end). Switching
 * scans off inflates the estimates of any plan that keeps one past jit_above_cost: no JIT, so a
 * replay never waits for a compiler. One statement each way (set_config(..., true) is SET LOCAL).
 */
export const REPLAY_SETTINGS = {
  before:
    "SELECT set_config('jit', 'off', true), set_config('enable_seqscan', 'off', true), " +
    "set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)",
  after:
    "SELECT set_config('enable_seqscan', 'on', true), set_config('enable_hashjoin', 'on', true), " +
    "set_config('enable_mergejoin', 'on', true)",
} as const;

export interface ReplayBatch {
  /** Log entries taken (and applied). */
  taken: number;
  /** The greatest id among them (null: none, or the `after` given). */
  lastId: string | null;
  /** Per counted target, by gainedColumn(flow, target): rows it gained. */
  gained: Record<string, number>;
}

/**
 * Runs one replay batch in the caller's transaction, with the replay's planner settings: the
 * settings, the batch and the settings put back sent together where the connection allows it
 * (one round trip; a replay under the final phase's locks runs a batch at least twice, the last
 * finding the log empty), else one after the other. A failure aborts the transaction, so what
 * was sent after it does nothing; the first failure in order is thrown.
 */
export async function replayBatch(
  tx: AnyPgDatabase,
  template: Template,
  values: readonly unknown[] = [],
): Promise<ReplayBatch> {
  const settings = tx.execute(sql.raw(REPLAY_SETTINGS.before)).then(() => undefined);
  const [, row] = await afterSentOn(tx, settings, async () => {
    const [rows] = await afterSentOn(
      tx,
      tx.execute(bind(template, values)).then((r) => rowsOf<Record<string, unknown>>(r)),
      () => run(tx, REPLAY_SETTINGS.after),
    );
    return rows[0];
  });
  const gained: Record<string, number> = {};
  for (const [name, value] of Object.entries(row ?? {})) {
    if (name !== 'taken' && name !== 'last_id') gained[name] = Number(value ?? 0);
  }
  const taken = Number(row?.taken ?? 0);
  return { taken, lastId: taken > 0 ? ((row?.last_id as string | null) ?? null) : null, gained };
}

/**
 * Replays batches until one finds the log empty (under a lock that stops the writers: the end
 * of a drain, a swap, an unswap). `batch` is given the last id taken so far (null at first).
 * Returns the entries taken and the rows each counted target gained.
 */
export async function replayUntilEmpty(
  batch: (after: string | null) => Promise<ReplayBatch>,
): Promise<{ taken: number; gained: Record<string, number> }> {
  let taken = 0;
  let after: string | null = null;
  const gained: Record<string, number> = {};
  for (;;) {
    const b = await batch(after);
    if (b.taken === 0) return { taken, gained };
    taken += b.taken;
    after = b.lastId ?? after;
    for (const [name, n] of Object.entries(b.gained)) gained[name] = (gained[name] ?? 0) + n;
  }
}
