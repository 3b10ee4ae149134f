import type { FamilySnapshot, Snapshot } from '../catalog/snapshot.js';
import { compareKeys, keyId, parseBound, rangeSpan } from '../define/bounds.js';
import { familyArgument, keyWord } from '../define/command-words.js';
import { counted } from '../define/counted.js';
import { addIntervals, intervalStart } from '../define/intervals.js';
import {
  assertDistinctPartitionNames,
  keyFromLabel,
  keyLabel,
  type ListValue,
  type PartitionKey,
  partitionName,
} from '../define/partition-key.js';
import { missedIntervals, premakeEnd, retentionCutoff } from '../define/range-window.js';
import { type FamilySpec, parseFamilies } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { recordOwnedSql } from '../sql/ownership.js';
import { createPartitionSql, defaultExclusionSql } from '../sql/partition-ddl.js';
import { continueConversion, isPausedConversion } from './conversion-pause.js';
import { coverage, indexTable, type TableIndex } from './coverage.js';
import { finalizeDetachSql, pendingDetaches } from './pending-detach.js';
import { knownListValues, specMismatches } from './spec-checks.js';

/**
 * The planner: declared specs + a catalog snapshot + a clock -> the ordered steps that bring the
 * database to what the specs declare, each with its SQL and a one-line reason. Pure: no I/O, no
 * clock of its own, so it is tested without a database and `pgparts plan` shows exactly what
 * `pgparts apply` will do.
 */

export type StepKind = 'create' | 'drain' | 'retire' | 'finalize-detach';

export interface Step {
  /** Stable across plans of the same state: kind, family, key and tables. */
  id: string;
  kind: StepKind;
  family: string;
  /** The parent tables it touches, in the order it touches them. */
  tables: string[];
  /** The partitions it creates (create, drain) or removes (retire), one per table. */
  partitions: string[];
  key: PartitionKey;
  /** `14`, `2026-11-01..2026-12-01`, `DEFAULT`. */
  label: string;
  /**
   * The exact statements, in order. The planner fills them for create and finalize-detach
   * steps; a drain's or retire's need facts the snapshot does not hold, and withStepStatements
   * (run/step-statements.ts) fills them from the catalog with the builders drainKey and
   * retireKey run. A statement whose text depends on what a copy finds (a copy or replay
   * batch) is a template: its first line is a comment saying so, and «...» marks what is
   * filled in at run time.
   */
  sql: string[];
  /**
   * create: statements run before `sql`, each in its own short transaction (with the same
   * lock_timeout and no JIT): they add and validate the CHECK on a DEFAULT partition that holds
   * rows, so that the ATTACH in `sql` does not scan DEFAULT under its lock.
   */
  prepare?: string[];
  /** create: run (each in its own transaction) when the step fails after `prepare` ran. */
  cleanup?: string[];
  reason: string;
  /** Drops or detaches partitions: runs only with allowDestructive / `--yes`. */
  destructive: boolean;
  /**
   * drain: rows the DEFAULT partitions hold for the key, when inspect counted them exactly
   * (`exactDefaultRows`); otherwise absent: the probe said only that there are some.
   */
  rows?: number;
  /** retire: what retention does with the partitions. */
  mode?: 'drop' | 'archive';
}

/** Something the plan will not do, and why; or something the catalog showed. */
export interface Notice {
  family: string;
  severity: 'warning' | 'info';
  kind: string;
  table?: string;
  partition?: string;
  message: string;
}

export interface Plan {
  /** The clock the plan was made for. */
  now: Date;
  steps: Step[];
  notices: Notice[];
}

export interface PlanOptions {
  /** Plan retention (retire) steps for families that declare `retention`. Default true. */
  retention?: boolean;
}

/** The specs do not match the database: nothing was planned, nothing may run. */
export class SpecMismatchError extends PgpartsError {
  constructor(readonly problems: string[]) {
    super(
      'spec-mismatch',
      `pgparts: the partition specs do not match the database; nothing was changed:\n${problems
        .map((p) => `  - ${p}`)
        .join('\n')}`,
    );
    this.name = 'SpecMismatchError';
  }
}

/** The snapshot of `family`, matched by its identity (schema and name), never by name alone. */
export function findFamilySnapshot(
  snapshot: Snapshot,
  family: { schema: string; name: string },
): FamilySnapshot | undefined {
  return snapshot.families.find((f) => f.schema === family.schema && f.name === family.name);
}

/**
 * Whether a table's DEFAULT holds rows of `key`, and how many when they were counted. A key the
 * snapshot did not probe (planned for another clock than inspect's) and that a complete search
 * of DEFAULT did not rule out counts as held: a drain of a key with no rows only creates its
 * partitions, where a CREATE over rows would fail.
 */
function defaultHolds(table: TableIndex, key: PartitionKey): { held: boolean; rows?: number } {
  const found = table.defaultPartition?.defaultRows;
  if (!found) return { held: false };
  const id = keyId(key);
  if (found.exact) {
    const rows = found.exact.byKey.find((k) => keyId(k.key) === id)?.rows ?? 0;
    return { held: rows > 0, rows };
  }
  if (!found.hasRows) return { held: false };
  const probe = found.probes.find((p) => keyId(p.key) === id);
  if (probe) return { held: probe.hasRows };
  if (found.foundAll) return { held: found.found.some((k) => keyId(k) === id) };
  return { held: true };
}

export function stepId(
  kind: StepKind,
  family: string,
  key: PartitionKey,
  tables: string[],
): string {
  return `${kind}:${family}:${keyLabel(key)}:${tables.join('+')}`;
}

/**
 * Whether retention would retire `key` once it had its own partitions (a drain makes them): a
 * RANGE key that ends by the cutoff; a LIST value not among the newest `keep` values of those
 * the family has, lists or reads from `valuesFrom`, itself counted (a value the spec lists is
 * always kept).
 */
export function outsideRetention(
  family: FamilySpec,
  snapshot: FamilySnapshot,
  key: PartitionKey,
  now: Date,
): boolean {
  const keep = family.retention?.keep;
  const spec = family.partitionBy;
  if (keep === undefined) return false;
  if (key.kind === 'range') {
    const cutoff = retentionCutoff(family, now);
    return cutoff !== undefined && key.to <= cutoff;
  }
  if (key.kind !== 'list' || spec.strategy !== 'list' || spec.values.includes(key.value))
    return false;
  const values = knownListValues(family, snapshot).add(key.value);
  return !newestFirst(values).slice(0, keep).includes(key.value);
}

/** LIST values newest (greatest) first: the order retention keeps them in. */
function newestFirst(values: Iterable<ListValue>): ListValue[] {
  return [...values].sort((a, b) =>
    compareKeys({ kind: 'list', value: b }, { kind: 'list', value: a }),
  );
}

/**
 * LIST values the spec no longer names (nor `valuesFrom` holds) whose partitions remain: kept,
 * every table alike, since pgparts removes no partition a spec stops naming (retention aside);
 * said so, with the command that removes them.
 */
function undeclaredValues(
  family: FamilySpec,
  snapshot: FamilySnapshot,
  tables: TableIndex[],
  wanted: PartitionKey[],
): Notice[] {
  const spec = family.partitionBy;
  if (spec.strategy !== 'list') return [];
  const named = new Set<ListValue>([...spec.values, ...(snapshot.sourceValues ?? [])]);
  const notices: Notice[] = [];
  for (const key of wanted) {
    if (key.kind !== 'list' || named.has(key.value)) continue;
    const held = tables.flatMap((t) => {
      const p = t.keyed.get(keyId(key));
      return p ? [{ table: t.name, name: p.name }] : [];
    });
    const first = held[0];
    if (!first) continue;
    const where = spec.valuesFrom
      ? `neither in the spec's values nor in ${spec.valuesFrom.schema}.${spec.valuesFrom.table}`
      : "not among the spec's values";
    notices.push({
      family: family.name,
      severity: 'info',
      kind: 'undeclared-value',
      table: first.table,
      partition: first.name,
      message:
        `${keyLabel(key)} is ${where}; its partitions (${held.map((h) => h.name).join(', ')}) stay ` +
        `as they are: \`pgparts retire ${familyArgument(family)} ${keyWord(key)}\` removes them`,
    });
  }
  return notices;
}

/** Why a key is wanted, per key: for the reasons of its create steps. */
type Why = Map<string, string>;

function wantedKeys(
  family: FamilySpec,
  snapshot: FamilySnapshot,
  tables: TableIndex[],
  now: Date,
  retention: boolean,
): { wanted: PartitionKey[]; retire: PartitionKey[]; why: Why; cutoff: string | undefined } {
  const why: Why = new Map();
  const existing = new Map<string, PartitionKey>();
  for (const table of tables) {
    for (const p of table.keyed.values()) {
      if (p.key && !existing.has(keyId(p.key))) {
        existing.set(keyId(p.key), p.key);
        why.set(
          keyId(p.key),
          `${table.name} has ${p.name}; every table of the family is partitioned alike`,
        );
      }
    }
  }
  const spec = family.partitionBy;
  const keep = retention ? family.retention?.keep : undefined;

  if (spec.strategy === 'list') {
    const values = new Map<ListValue, string>();
    for (const key of existing.values()) {
      if (key.kind === 'list') values.set(key.value, why.get(keyId(key)) ?? '');
    }
    for (const value of spec.values) values.set(value, `${value} is listed in the spec's values`);
    const source = spec.valuesFrom;
    for (const value of snapshot.sourceValues ?? []) {
      values.set(
        value,
        `${value} is in ${source?.schema}.${source?.table}.${source?.column} and has no partition`,
      );
    }
    const sorted = newestFirst(values.keys());
    const kept = new Set(keep === undefined ? sorted : sorted.slice(0, keep));
    const wanted: PartitionKey[] = [];
    const retire: PartitionKey[] = [];
    for (const value of sorted.reverse()) {
      const key: PartitionKey = { kind: 'list', value };
      why.set(keyId(key), values.get(value) ?? '');
      // A value the spec lists always keeps its partitions (retireKey refuses it unless forced).
      if (kept.has(value) || spec.values.includes(value)) wanted.push(key);
      else if (existing.has(keyId(key))) retire.push(key);
    }
    assertDistinctPartitionNames(family, [...wanted, ...retire]);
    const cutoff = keep === undefined ? undefined : `the newest ${counted(keep, 'value')}`;
    return { wanted, retire, why, cutoff };
  }

  const current = intervalStart(spec.interval, now);
  const window = new Map<string, PartitionKey>();
  // `past` intervals of history, the current one, `premake` ahead: what a fresh install creates.
  for (let i = -spec.past; i <= spec.premake; i += 1) {
    const from = addIntervals(spec.interval, current, i);
    const key: PartitionKey = { kind: 'range', from, to: addIntervals(spec.interval, from, 1) };
    window.set(keyId(key), key);
    why.set(
      keyId(key),
      i < 0
        ? `within the history window (past: ${spec.past} ${spec.interval}s before the current one)`
        : i === 0
          ? `the current ${spec.interval} has no partition`
          : `within the premake window (the current ${spec.interval} and ${spec.premake} ahead)`,
    );
  }
  // From the newest partition pgparts keeps: one made by hand long before is left to a person.
  const kept = tables.flatMap((t) =>
    [...t.keyed.values()].flatMap((p) => (p.managed && p.key ? [p.key] : [])),
  );
  for (const key of missedIntervals(family, existing.values(), now, kept)) {
    window.set(keyId(key), key);
    why.set(
      keyId(key),
      `missed: between the newest partition and the history window (maintenance has not run for longer than past: ${spec.past} ${spec.interval}s); rows of it would go to DEFAULT or fail`,
    );
  }
  const cutoffDate = retention ? retentionCutoff(family, now) : undefined;
  const retire: PartitionKey[] = [];
  const wanted: PartitionKey[] = [...window.values()];
  for (const [id, key] of existing) {
    if (window.has(id) || key.kind !== 'range') continue;
    if (cutoffDate && key.to.getTime() <= cutoffDate.getTime()) retire.push(key);
    else wanted.push(key);
  }
  const cutoff = cutoffDate
    ? `keep ${keep} ${spec.interval}s before the current one: from ${cutoffDate.toISOString().slice(0, 10)}`
    : undefined;
  return { wanted: wanted.sort(compareKeys), retire: retire.sort(compareKeys), why, cutoff };
}

function drainStep(
  family: FamilySpec,
  key: PartitionKey,
  rows: number | undefined,
  reason: string,
): Step {
  return {
    id: stepId('drain', family.name, key, family.tables),
    kind: 'drain',
    family: family.name,
    tables: [...family.tables],
    partitions: family.tables.map((t) => partitionName(family, t, key)),
    key,
    label: keyLabel(key),
    sql: [],
    reason,
    destructive: false,
    ...(rows !== undefined ? { rows } : {}),
  };
}

/** A retire step over the partitions of `key` that `held` names, referencing tables first. */
function retireStep(
  family: FamilySpec,
  key: PartitionKey,
  label: string,
  held: readonly { table: string; partition: string }[],
  mode: 'drop' | 'archive',
  reason: string,
): Step {
  return {
    id: stepId(
      'retire',
      family.name,
      key,
      held.map((h) => h.table),
    ),
    kind: 'retire',
    family: family.name,
    tables: held.map((h) => h.table),
    partitions: held.map((h) => h.partition),
    key,
    label,
    sql: [],
    reason,
    destructive: true,
    mode,
  };
}

/**
 * What an interrupted operation left is finished by the next apply: a drain is resumed (its
 * staging tables and change log carry on), a retire is finished (destructive, so with --yes
 * like any retire: it had been confirmed once already, but its partitions are still readable).
 * An operation running right now (its key's lock is held) is left to it; a reattach is
 * finished by `pgparts reattach`.
 */
function finishInterrupted(
  family: FamilySpec,
  snapshot: FamilySnapshot,
  tables: TableIndex[],
  notices: Notice[],
): Step[] {
  const steps: Step[] = [];
  for (const op of snapshot.unfinished.operations) {
    const since = op.startedAt.toISOString();
    if (op.operation === 'convert') {
      // A conversion is the family's, not a key's: apply leaves it to `pgparts convert`.
      notices.push({
        family: family.name,
        severity: 'warning',
        kind: op.running
          ? 'operation-running'
          : isPausedConversion(op)
            ? 'conversion-paused'
            : 'operation-interrupted',
        message: `a conversion of the family is unfinished (phase ${op.phase}, since ${since}): ${continueConversion(family.name)}`,
      });
      continue;
    }
    const key = keyFromLabel(family, op.key);
    if (!key) continue;
    if (op.running) {
      notices.push({
        family: family.name,
        severity: 'info',
        kind: 'operation-running',
        message: `a ${op.operation} of ${op.key} is running (phase ${op.phase}, since ${since}): its key is left to it`,
      });
      continue;
    }
    const where = `an interrupted ${op.operation} of ${op.key} (phase ${op.phase}, since ${since})`;
    if (op.operation === 'drain') {
      // Rows are known only where DEFAULT was counted exactly; otherwise the drain counts them.
      const holds = tables.map((t) => defaultHolds(t, key));
      const rows = holds.every((h) => h.rows !== undefined)
        ? holds.reduce((sum, h) => sum + (h.rows ?? 0), 0)
        : undefined;
      steps.push(
        drainStep(
          family,
          key,
          rows,
          `${where} left work: resume it (its staging tables and change log carry on)`,
        ),
      );
    } else if (op.operation === 'retire') {
      const held = [...tables].reverse().flatMap((t) => {
        const p = t.keyed.get(keyId(key));
        return p ? [{ table: t.name, partition: p.name }] : [];
      });
      const mode = op.detail === 'archive' ? 'archive' : 'drop';
      steps.push(
        retireStep(
          family,
          key,
          op.key,
          held,
          mode,
          `${where}: finish it (${mode} the partitions it has not removed yet, then record the key retired)`,
        ),
      );
    } else {
      notices.push({
        family: family.name,
        severity: 'warning',
        kind: 'operation-interrupted',
        message: `${where}: finish it with pgparts reattach`,
      });
    }
  }
  return steps;
}

const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/** Whether every interval of `span` is a key recorded as retired. */
function retiredSpan(
  family: FamilySpec,
  snapshot: FamilySnapshot,
  span: { from: Date; to: Date },
): boolean {
  const p = family.partitionBy;
  if (p.strategy !== 'range' || snapshot.retiredKeys.length === 0) return false;
  const retired = new Set(snapshot.retiredKeys);
  let from = span.from;
  // A retired key is one interval: a span of more intervals than keys recorded is not all retired.
  for (let i = 0; i <= retired.size && from.getTime() < span.to.getTime(); i += 1) {
    const to = addIntervals(p.interval, from, 1);
    if (!retired.has(keyLabel({ kind: 'range', from, to }))) return false;
    from = to;
  }
  return from.getTime() === span.to.getTime();
}

function planFamily(
  family: FamilySpec,
  snapshot: FamilySnapshot,
  now: Date,
  options: PlanOptions,
): { steps: Step[]; notices: Notice[] } {
  const steps: Step[] = [];
  const ahead = premakeEnd(family, now);
  const notices: Notice[] = snapshot.anomalies.map((a) => {
    // A gap after the premake window (a drain gave a key far ahead its partitions) closes by
    // itself: each interval is created as the window reaches it. Said, not flagged.
    const later = a.kind === 'gap' && a.span && ahead && a.span.from.getTime() >= ahead.getTime();
    // A gap that is only retired keys (a month retired or archived by hand, between two kept)
    // is what was asked for: said, not flagged.
    const retired = a.kind === 'gap' && a.span && retiredSpan(family, snapshot, a.span);
    return {
      family: family.name,
      severity: later || retired ? 'info' : a.severity,
      kind: a.kind,
      table: a.table,
      ...(a.partition ? { partition: a.partition } : {}),
      message:
        later && a.span
          ? `${a.table} has no partitions yet for ${isoDay(a.span.from)}..${isoDay(a.span.to)}, ` +
            `after the premake window (to ${isoDay(ahead)}) and before ${a.partition}: apply creates ` +
            'each as the window reaches it; rows of it go to DEFAULT meanwhile'
          : retired && a.span
            ? `${a.table} has no partition for ${isoDay(a.span.from)}..${isoDay(a.span.to)}: retired ` +
              `(pgparts_retired_keys), so apply does not create it; rows of it go to ` +
              `${snapshot.tables.find((t) => t.name === a.table)?.partitions.some((p) => p.isDefault) ? 'DEFAULT' : 'no partition and fail'}`
            : a.message,
    };
  });
  const tables = snapshot.tables.map((t) => indexTable(family, t));
  const parents = new Map(snapshot.tables.map((t) => [t.name, t.parent]));
  const create = (table: TableIndex, key: PartitionKey, reason: string): Step => {
    const defaultPartition = key.kind === 'default' ? null : (table.defaultPartition ?? null);
    const parent = parents.get(table.name);
    // An empty DEFAULT costs ATTACH no scan: only one that holds rows gets the CHECK first (and
    // one that still carries it from a create that did not finish, which this one replaces).
    // A DEFAULT pgparts does not own is never altered: its ATTACH scans it, as PostgreSQL does.
    // Only for an interval that has not begun: while the CHECK is there, an app insert of the
    // new key through the parent is refused (23514) instead of landing in DEFAULT, and rows of
    // a LIST value or of a started interval may arrive at any moment; a future one's should not.
    const notBegun = key.kind === 'range' && key.from.getTime() > now.getTime();
    const exclusion =
      defaultPartition &&
      ((defaultPartition.managed && defaultPartition.defaultRows?.hasRows !== false && notBegun) ||
        defaultPartition.excludesCheck)
        ? defaultExclusionSql(family, key, defaultPartition)
        : null;
    return {
      id: stepId('create', family.name, key, [table.name]),
      kind: 'create',
      family: family.name,
      tables: [table.name],
      partitions: [partitionName(family, table.name, key)],
      key,
      label: keyLabel(key),
      ...(exclusion ? { prepare: exclusion.prepare } : {}),
      sql: [
        ...createPartitionSql(
          family,
          table.name,
          key,
          {
            defaultPartition,
            referencedTables: parent?.referencedTables ?? [],
            referencingTables: parent?.referencingTables ?? [],
          },
          {
            owner: parent?.otherOwner,
            tablespace: parent?.tablespace,
            statisticsTargets: parent?.statisticsTargets,
          },
        ),
        ...(exclusion ? [exclusion.drop] : []),
        recordOwnedSql({
          schema: family.schema,
          family: family.name,
          parent: table.name,
          name: partitionName(family, table.name, key),
          key: keyLabel(key),
          role: 'partition',
        }),
      ],
      ...(exclusion ? { cleanup: [exclusion.cleanup] } : {}),
      reason,
      destructive: false,
    };
  };

  if (family.defaultPartition) {
    for (const table of tables) {
      if (!table.defaultPartition) {
        steps.push(
          create(
            table,
            { kind: 'default' },
            `the spec declares a DEFAULT partition for ${table.name}`,
          ),
        );
      }
    }
  }

  const { wanted, retire, why, cutoff } = wantedKeys(
    family,
    snapshot,
    tables,
    now,
    options.retention ?? true,
  );

  notices.push(...undeclaredValues(family, snapshot, tables, wanted));

  // What interrupted operations left comes first: a drain of another key waits for the
  // family's unfinished drain (ops/drain/drain.ts), so it is resumed before any new one.
  steps.push(...finishInterrupted(family, snapshot, tables, notices));

  // Keys retired by hand or by retention stay retired: never re-created empty.
  const retired = new Set(snapshot.retiredKeys);
  // A key with an operation under way or interrupted belongs to that operation (below).
  const operations = new Map(snapshot.unfinished.operations.map((op) => [op.key, op]));
  for (const key of wanted) {
    const label = keyLabel(key);
    if (retired.has(label) || operations.has(label)) continue;
    const missing: TableIndex[] = [];
    for (const table of tables) {
      const found = coverage(table, key);
      if (found.state === 'overlap') {
        notices.push({
          family: family.name,
          severity: 'warning',
          kind: 'overlap',
          table: table.name,
          partition: found.by.name,
          message:
            `cannot create ${partitionName(family, table.name, key)} (${label}): ${found.by.name} ` +
            `(${found.by.bound}) overlaps it; split or replace that partition by hand`,
        });
      } else if (found.state === 'none') {
        missing.push(table);
      }
    }
    if (missing.length === 0) continue;
    const held = missing
      .map((table) => ({ table, ...defaultHolds(table, key) }))
      .filter((h) => h.held);
    if (held.length > 0) {
      const counted = held.every((h) => h.rows !== undefined);
      const rows = counted ? held.reduce((sum, h) => sum + (h.rows ?? 0), 0) : undefined;
      const where = held
        .map(
          (h) =>
            `${h.table.defaultPartition?.name ?? `${h.table.name}'s DEFAULT`} holds ${h.rows ?? 'some'}`,
        )
        .join(', ');
      steps.push(
        drainStep(
          family,
          key,
          rows,
          `${label} needs its own partitions but ${where} row(s) for it; a CREATE would fail ` +
            '(a new partition must prove DEFAULT holds none of its rows, docs/postgres-behaviours.md#default-partition-and-new-partitions): ' +
            'move the rows out of DEFAULT into new partitions (drainKey, in batches)',
        ),
      );
      continue;
    }
    for (const table of missing) steps.push(create(table, key, why.get(keyId(key)) ?? label));
  }

  for (const key of retire) {
    const label = keyLabel(key);
    if (operations.has(label)) continue;
    const held = [...tables].reverse().flatMap((t) => {
      const p = t.keyed.get(keyId(key));
      return p ? [{ table: t.name, partition: p }] : [];
    });
    const foreign = held.filter((h) => !h.partition.managed);
    if (foreign.length > 0) {
      notices.push({
        family: family.name,
        severity: 'info',
        kind: 'retention-skipped',
        ...(foreign[0] ? { table: foreign[0].table, partition: foreign[0].partition.name } : {}),
        message:
          `${label} is outside the retention window (${cutoff}), but ` +
          `${foreign.map((h) => h.partition.name).join(', ')} ${foreign.length === 1 ? 'was' : 'were'} ` +
          'not created by pgparts: left alone',
      });
      continue;
    }
    const mode = family.retention?.mode ?? 'drop';
    steps.push(
      retireStep(
        family,
        key,
        label,
        held.map((h) => ({ table: h.table, partition: h.partition.name })),
        mode,
        `${label} is outside the retention window (${cutoff}): ${mode === 'drop' ? 'drop' : `archive into ${family.retention?.archiveSchema}`} ` +
          `its partitions, referencing tables first, with ${
            family.defaultPartition
              ? 'plain DETACH under lock_timeout (PostgreSQL refuses DETACH CONCURRENTLY while a DEFAULT partition exists)'
              : 'DETACH ... CONCURRENTLY'
          } (retireKey)`,
      ),
    );
  }

  // Partitions pgparts does not understand but that lie wholly before the retention cutoff.
  const spec = family.partitionBy;
  if ((options.retention ?? true) && family.retention && spec.strategy === 'range') {
    const cutoffDate = addIntervals(
      spec.interval,
      intervalStart(spec.interval, now),
      -family.retention.keep,
    ).getTime();
    for (const table of tables) {
      for (const p of table.irregular) {
        const span = rangeSpan(parseBound(p.bound));
        if (span && span.to <= cutoffDate) {
          notices.push({
            family: family.name,
            severity: 'info',
            kind: 'retention-skipped',
            table: table.name,
            partition: p.name,
            message: `${p.name} (${p.bound}) is outside the retention window (${cutoff}), but its bounds are not one ${spec.interval}: left alone`,
          });
        }
      }
    }
  }
  return { steps, notices };
}

/**
 * A step per partition left "detach pending", run before the family's other steps. Not
 * destructive: finalizing completes what was begun and the table itself stays. A key a retire
 * step of the same plan removes is left to that step (retireKey finalizes it too).
 */
function finalizeDetachSteps(
  family: FamilySpec,
  snapshot: FamilySnapshot,
  planned: readonly Step[],
): Step[] {
  const retired = new Set(planned.filter((s) => s.kind === 'retire').map((s) => keyId(s.key)));
  return pendingDetaches(snapshot)
    .filter((p) => !(p.key && retired.has(keyId(p.key))))
    .map((p) => {
      const key: PartitionKey = p.key ?? { kind: 'default' };
      return {
        id: `${stepId('finalize-detach', family.name, key, [p.table])}:${p.partition}`,
        kind: 'finalize-detach',
        family: family.name,
        tables: [p.table],
        partitions: [p.partition],
        key,
        label: p.key ? keyLabel(p.key) : p.bound,
        sql: [finalizeDetachSql(family.schema, p.table, p.partition)],
        reason:
          `${p.partition} was left "detach pending" by an interrupted DETACH ... CONCURRENTLY: ` +
          'finish the detach (the table stays, no longer a partition)',
        destructive: false,
      };
    });
}

/**
 * The family's conversion, when one is recorded and has not yet swapped its tables: every table
 * exists and none is partitioned (after the swap they are, and the spec is checked as usual).
 */
export function beingConverted(found: FamilySnapshot) {
  const op = found.unfinished.operations.find((o) => o.operation === 'convert');
  const legacy = found.tables.every((t) => t.parent && t.parent.relkind !== 'p');
  return op && legacy ? op : undefined;
}

/** A family whose spec does not match the database, with each problem (specMismatches). */
export interface MismatchedFamily {
  family: string;
  schema: string;
  problems: string[];
}

/** The families of a config sorted by whether their specs match the snapshot. */
export interface SpecMatch {
  /** The families to plan, with their snapshots. */
  pairs: [FamilySpec, FamilySnapshot][];
  mismatched: MismatchedFamily[];
  /** A family declared for its conversion before the swap: left alone, and said so. */
  notices: Notice[];
}

/** Rejects a clock that is no date: everything planned is relative to it. */
export function checkNow(now: Date): void {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    const given = now instanceof Date ? 'an invalid Date' : (JSON.stringify(now) ?? String(now));
    throw new PgpartsError(
      'invalid-input',
      `pgparts: plan needs a valid \`now\` (a Date), not ${given}`,
    );
  }
}

/** Which of `specs` match the database in `snapshot`, which do not and why. */
export function matchSpecs(specs: readonly FamilySpec[], snapshot: Snapshot): SpecMatch {
  const matched: SpecMatch = { pairs: [], mismatched: [], notices: [] };
  for (const family of specs) {
    const found = findFamilySnapshot(snapshot, family);
    if (!found) {
      throw new PgpartsError(
        'internal',
        `the snapshot has no family ${family.schema}.${family.name}; inspect with the families you plan for`,
      );
    }
    const mismatches = specMismatches(family, found);
    const converting = beingConverted(found);
    if (mismatches.length > 0 && converting) {
      // Declared for its conversion (whose steps take the spec) before the swap made its tables
      // partitioned: left alone, while the other families are kept as usual.
      matched.notices.push({
        family: family.name,
        severity: 'warning',
        kind: 'family-converting',
        message:
          `family ${family.name} is being converted (phase ${converting.phase}): its tables are ` +
          'not partitioned yet, so maintenance leaves it alone until the conversion swaps them',
      });
      continue;
    }
    if (mismatches.length > 0) {
      matched.mismatched.push({ family: family.name, schema: family.schema, problems: mismatches });
    } else {
      matched.pairs.push([family, found]);
    }
  }
  return matched;
}

/** The mismatches, one line per problem, as SpecMismatchError and status list them. */
export function mismatchLines(mismatched: readonly MismatchedFamily[]): string[] {
  return mismatched.flatMap((m) => m.problems.map((problem) => `family ${m.family}: ${problem}`));
}

/**
 * Plans what `apply` should do for `families`, given the catalog `snapshot` and the clock `now`
 * (use `snapshot.takenAt`, the server's clock, unless testing another moment). Steps come in the
 * order they must run: DEFAULT partitions, then each key ascending (referenced tables' partitions
 * first), then retention (referencing tables' partitions first). Throws SpecMismatchError, before
 * anything runs, when the specs do not match the live tables.
 */
export function plan(
  families: readonly FamilySpec[],
  snapshot: Snapshot,
  now: Date,
  options: PlanOptions = {},
): Plan {
  checkNow(now);
  const matched = matchSpecs(parseFamilies(families), snapshot);
  if (matched.mismatched.length > 0) throw new SpecMismatchError(mismatchLines(matched.mismatched));
  return planMatched(matched, now, options);
}

/** The plan of the families matchSpecs found matching; plan without its refusal of the others. */
export function planMatched(matched: SpecMatch, now: Date, options: PlanOptions = {}): Plan {
  const result: Plan = { now, steps: [], notices: [...matched.notices] };
  for (const [family, found] of matched.pairs) {
    const planned = planFamily(family, found, now, options);
    result.steps.push(...finalizeDetachSteps(family, found, planned.steps), ...planned.steps);
    result.notices.push(...planned.notices);
  }
  return result;
}
