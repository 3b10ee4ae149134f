import { createHash } from 'node:crypto';
import { canonicalJson } from '../define/canonical-json.js';
import { lockTimeoutSql } from '../run/lock-timeout.js';
import { MAX_IDENTIFIER_LENGTH, quoteIdent, quoteQualified } from '../sql/identifiers.js';
import { textLiteral } from '../sql/literals.js';
import type { IndexColumn, OnlineIndexSpec } from './online-index-spec.js';

/**
 * The statements of an online index build, as text (nothing here runs them). Every identifier
 * goes through quoteIdent / quoteQualified; `expression` and `where` are the developer's SQL,
 * checked by the spec schema and parenthesised.
 */

const HASH_LENGTH = 8;

/** Cuts `name` to at most `bytes` UTF-8 bytes without splitting a character. */
function cutToBytes(name: string, bytes: number): string {
  let cut = '';
  for (const char of name) {
    if (Buffer.byteLength(cut + char) > bytes) break;
    cut += char;
  }
  return cut;
}

/**
 * The name of a partition's index for this build: the partition's name in place of the parent's
 * at the start of the index name (`events_kind_idx` -> `events_2026_01_kind_idx`), or the
 * partition's name and the index name joined by `_`. PostgreSQL would silently cut a name longer
 * than 63 bytes, and two partitions' names could then meet; a long name is cut and ends in `_`
 * and 8 hex digits of a hash of the whole name instead, so names stay distinct.
 */
export function partitionIndexName(
  spec: Pick<OnlineIndexSpec, 'table' | 'name'>,
  partition: string,
): string {
  const parent = spec.table.name;
  return fittedName(
    spec.name.startsWith(`${parent}_`)
      ? `${partition}${spec.name.slice(parent.length)}`
      : `${partition}_${spec.name}`,
  );
}

/** `full`, or when it is longer than an identifier may be, cut and ended by `_` and a hash. */
function fittedName(full: string): string {
  if (Buffer.byteLength(full) <= MAX_IDENTIFIER_LENGTH) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, HASH_LENGTH);
  return `${cutToBytes(full, MAX_IDENTIFIER_LENGTH - HASH_LENGTH - 1)}_${hash}`;
}

/**
 * The name a replacement is built under, beside the index it replaces (`events_kind_idx` ->
 * `events_kind_idx_pgparts_new`); its partitions' indexes are named from it as for any build.
 */
export function replacementIndexName(name: string): string {
  return fittedName(`${name}_pgparts_new`);
}

/**
 * What a replacement's parent index carries as its COMMENT from the moment it is created:
 * `pgparts:index` and a hash of the spec it was built for. It tells an index already replaced
 * by this spec (nothing to do) from the one a replacement is for, which the catalog's columns
 * alone cannot (expressions and predicates are not compared).
 */
export function indexMarker(spec: OnlineIndexSpec): string {
  const hash = createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 16);
  return `pgparts:index ${hash}`;
}

export function markIndexSql(schema: string, index: string, marker: string): string {
  return `COMMENT ON INDEX ${quoteQualified(schema, index)} IS ${textLiteral(marker)}`;
}

export function renameIndexSql(schema: string, index: string, to: string): string {
  return `ALTER INDEX ${quoteQualified(schema, index)} RENAME TO ${quoteIdent(to)}`;
}

function columnSql(column: IndexColumn): string {
  const target = 'column' in column ? quoteIdent(column.column) : `(${column.expression})`;
  const opclass = column.opclass ? ` ${quoteIdent(column.opclass)}` : '';
  const order = column.order ? ` ${column.order.toUpperCase()}` : '';
  const nulls = column.nulls ? ` NULLS ${column.nulls.toUpperCase()}` : '';
  return `${target}${opclass}${order}${nulls}`;
}

/** `USING m (columns) INCLUDE (...) WHERE (...)`: what follows the table in CREATE INDEX. */
export function indexDefinitionSql(spec: OnlineIndexSpec): string {
  const using = spec.using ? ` USING ${quoteIdent(spec.using)}` : '';
  const include = spec.include.length
    ? ` INCLUDE (${spec.include.map((c) => quoteIdent(c)).join(', ')})`
    : '';
  const where = spec.where ? ` WHERE (${spec.where})` : '';
  return `${using} (${spec.columns.map(columnSql).join(', ')})${include}${where}`;
}

function createKeyword(spec: OnlineIndexSpec): string {
  return spec.unique ? 'CREATE UNIQUE INDEX' : 'CREATE INDEX';
}

/**
 * The parent's index. ON ONLY creates it on the partitioned table alone, at once, marked invalid
 * until every partition has its own index attached. Without partitions there is nothing to
 * build, and a plain CREATE INDEX is valid at once.
 */
export function createParentIndexSql(spec: OnlineIndexSpec, only: boolean): string {
  const table = quoteQualified(spec.table.schema, spec.table.name);
  return `${createKeyword(spec)} IF NOT EXISTS ${quoteIdent(spec.name)} ON ${only ? 'ONLY ' : ''}${table}${indexDefinitionSql(spec)}`;
}

/** `index` and `partition` are quoted names, or placeholders in a template. */
export function createPartitionIndexText(
  spec: OnlineIndexSpec,
  index: string,
  partition: string,
): string {
  return `${createKeyword(spec)} CONCURRENTLY IF NOT EXISTS ${index} ON ${partition}${indexDefinitionSql(spec)}`;
}

export function createPartitionIndexSql(
  spec: OnlineIndexSpec,
  partition: { schema: string; name: string },
): string {
  return createPartitionIndexText(
    spec,
    quoteIdent(partitionIndexName(spec, partition.name)),
    quoteQualified(partition.schema, partition.name),
  );
}

/** `index` is a quoted, schema-qualified name, or a placeholder in a template. */
export function attachPartitionIndexText(spec: OnlineIndexSpec, index: string): string {
  return `ALTER INDEX ${quoteQualified(spec.table.schema, spec.name)} ATTACH PARTITION ${index}`;
}

export function attachPartitionIndexSql(spec: OnlineIndexSpec, schema: string, index: string) {
  return attachPartitionIndexText(spec, quoteQualified(schema, index));
}

/** `index` is a quoted, schema-qualified name, or a placeholder in a template. */
export function dropInvalidIndexText(index: string): string {
  return `DROP INDEX CONCURRENTLY IF EXISTS ${index}`;
}

export function dropInvalidIndexSql(schema: string, index: string): string {
  return dropInvalidIndexText(quoteQualified(schema, index));
}

export function setLockTimeoutSql(ms: number): string {
  return `SET ${lockTimeoutSql(ms)}`;
}

export const RESET_LOCK_TIMEOUT_SQL = 'RESET lock_timeout';

/**
 * Dropping an index of a partitioned table. Not online: PostgreSQL cannot drop a partitioned
 * index CONCURRENTLY, so this takes an ACCESS EXCLUSIVE lock on the parent and every partition
 * for as long as the drop takes (short: no data is read). Run it under a short lock_timeout
 * (`dropIndex` does) so that waiting for the lock never queues readers and writers for long.
 */
export function dropIndexSql(index: { schema?: string; name: string }): string {
  return `DROP INDEX IF EXISTS ${quoteQualified(index.schema ?? 'public', index.name)}`;
}
