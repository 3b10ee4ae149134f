import type { DefaultRows, PartitionInfo, Snapshot, UnfinishedWork } from '../catalog/snapshot.js';
import { compareKeys, keyId } from '../define/bounds.js';
import { keyWord, tableArgument } from '../define/command-words.js';
import { counted } from '../define/counted.js';
import { addIntervals, intervalStart } from '../define/intervals.js';
import { keyLabel, type PartitionKey, partitionName } from '../define/partition-key.js';
import { type FamilySpec, parseFamilies } from '../define/spec.js';
import { CONVERSION_PAUSES, continueConversion, isPausedConversion } from './conversion-pause.js';
import { coverage, indexTable } from './coverage.js';
import { abandonCommand, drainFailure } from './drain-failure.js';
import {
  beingConverted,
  checkNow,
  findFamilySnapshot,
  type MismatchedFamily,
  matchSpecs,
  mismatchLines,
  type Notice,
  outsideRetention,
  type Plan,
  planMatched,
  type Step,
} from './plan.js';

/**
 * `pgparts status`: the snapshot and the plan, summed up per family and table, and the list of
 * what needs a person (for `--check`). Pure, like the planner.
 */

export interface TableStatus {
  table: string;
  partitions: PartitionInfo[];
  /** The DEFAULT partition's name; null when there is none. */
  defaultPartition: string | null;
  /** Whether DEFAULT holds any row; null when there is no DEFAULT (or its table is not read). */
  defaultHasRows: boolean | null;
  /** DEFAULT's exact row count, when inspect counted it (`exactDefaultRows`); else null. */
  defaultRows: number | null;
  /** Keys DEFAULT holds rows of (probed and found), ascending. */
  defaultKeys: PartitionKey[];
  /** False when DEFAULT may hold rows of more keys than `defaultKeys` (the search's bound). */
  defaultKeysAll: boolean;
  /** RANGE: the first interval, from the current one on, with no partition in this table. */
  firstUncovered: PartitionKey | null;
  /** Bytes of every partition together; null when inspect did not read sizes. */
  bytes: number | null;
}

export interface FamilyStatus {
  family: string;
  /** `LIST by season_id, values from public.season.id` */
  description: string;
  tables: TableStatus[];
  /** Steps apply would run that create or move (non-destructive). */
  pending: Step[];
  /** Retire steps: partitions outside the retention window. */
  retentionCandidates: Step[];
  /** What interrupted (or running) operations left on the family. */
  unfinished: UnfinishedWork;
  notices: Notice[];
}

export interface StatusReport {
  takenAt: Date;
  now: Date;
  families: FamilyStatus[];
  /**
   * Families whose specs do not match the database (a table missing or not partitioned, another
   * partition key, an unreadable valuesFrom): not summed up; plan and apply refuse to run while
   * there is any. Their problems are in `attention` too.
   */
  mismatched: MismatchedFamily[];
  /** What needs attention; empty when all is well. `pgparts status --check` fails on any. */
  attention: string[];
}

/** The keys DEFAULT holds rows of: the probes that found some, and the bounded search. */
function defaultKeys(held: DefaultRows): { keys: PartitionKey[]; all: boolean } {
  if (held.exact) return { keys: held.exact.byKey.map((k) => k.key), all: true };
  const keys = new Map<string, PartitionKey>();
  for (const key of held.found) keys.set(keyId(key), key);
  for (const p of held.probes) if (p.hasRows) keys.set(keyId(p.key), p.key);
  return { keys: [...keys.values()].sort(compareKeys), all: held.foundAll };
}

/** `120 row(s) (2026-05-01..2026-06-01: 120)`, or `rows (~300000 estimated) of 14, 15`. */
function describeDefault(
  partition: PartitionInfo,
  found: { keys: PartitionKey[]; all: boolean },
): string {
  const exact = partition.defaultRows?.exact;
  if (exact) {
    const keys = exact.byKey.map((k) => `${keyLabel(k.key)}: ${k.rows}`).join(', ');
    return `${exact.total} row(s)${keys ? ` (${keys})` : ''}`;
  }
  const estimate =
    partition.estimatedRows && partition.estimatedRows > 0
      ? ` (~${Math.round(partition.estimatedRows)} estimated)`
      : '';
  const labels = found.keys.map((k) => keyLabel(k)).join(', ');
  const more = found.all ? '' : ' and more';
  return `rows${estimate}${labels ? ` of ${labels}${more}` : ' with no key of the spec'}`;
}

function describe(family: FamilySpec): string {
  const p = family.partitionBy;
  if (p.strategy === 'list') {
    const from = p.valuesFrom
      ? `, values from ${p.valuesFrom.schema}.${p.valuesFrom.table}.${p.valuesFrom.column}`
      : '';
    const listed = p.values.length > 0 ? `, values ${p.values.join(', ')}` : '';
    const kept = family.retention
      ? `, retention the newest ${counted(family.retention.keep, 'value')} (${family.retention.mode})`
      : '';
    return `LIST by ${p.column}${from}${listed}${kept}`;
  }
  const retention = family.retention
    ? `, retention ${counted(family.retention.keep, p.interval)} (${family.retention.mode})`
    : '';
  return `RANGE by ${p.column}, one ${p.interval} each, premake ${p.premake}${retention}`;
}

function age(since: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - since.getTime()) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** How many operations of a family are unfinished, as status reads them (and the metric counts). */
export interface UnfinishedCounts {
  /** Recorded, and the key's lock is held: running right now. */
  running: number;
  /** Recorded, and no one holds the key's lock: a crash or a kill stopped it. */
  interrupted: number;
  /** A conversion whose last step ended, waiting for its next one (not a problem). */
  paused: number;
  /**
   * 1 when a drain's tables or capture triggers are left and no operation is recorded for the
   * family at all (a drain of a release before the record), else 0.
   */
  unrecorded: number;
}

/** The counts behind status's lines about unfinished work; one reading for status and metrics. */
export function unfinishedCounts(work: UnfinishedWork): UnfinishedCounts {
  const running = work.operations.filter((op) => op.running).length;
  const paused = work.operations.filter((op) => !op.running && isPausedConversion(op)).length;
  const interrupted = work.operations.length - running - paused;
  const leftovers = work.drainTables.length > 0 || work.captureTriggers.length > 0;
  return {
    running,
    interrupted,
    paused,
    unrecorded: leftovers && work.operations.length === 0 ? 1 : 0,
  };
}

/**
 * Every interrupted operation, with its age, and what it left (tables, triggers still logging
 * every write, the change log's size). One that is running right now is not a problem.
 */
function unfinishedAttention(family: FamilySpec, work: UnfinishedWork, now: Date): string[] {
  const lines: string[] = [];
  const counts = unfinishedCounts(work);
  const stopped = work.operations.filter((op) => !op.running);
  for (const op of stopped.filter(isPausedConversion)) {
    lines.push(
      `family ${family.name}: a conversion paused after its ${CONVERSION_PAUSES[op.phase]?.after} step ` +
        `(started ${age(op.startedAt, now)} ago at ${op.startedAt.toISOString()}); next: ` +
        `${CONVERSION_PAUSES[op.phase]?.next} (pgparts convert ${family.name}, or the convert functions from code)`,
    );
  }
  const interrupted = stopped.filter((op) => !isPausedConversion(op));
  for (const op of interrupted) {
    const failed = drainFailure(op.operation, op.detail);
    if (failed) {
      lines.push(
        `family ${family.name}: a drain of ${op.key} that fails (phase ${op.phase}, started ` +
          `${age(op.startedAt, now)} ago at ${op.startedAt.toISOString()}); its last run failed ${failed}; ` +
          "apply tries it again and fails alike until the cause is fixed, and the family's other drains wait for it. " +
          `To give it up, without losing a row (its tables and capture triggers go, the rows stay in DEFAULT): ${abandonCommand(family, op.key)}`,
      );
      continue;
    }
    lines.push(
      `family ${family.name}: an interrupted ${op.operation} of ${op.key} (phase ${op.phase}, ` +
        `started ${age(op.startedAt, now)} ago at ${op.startedAt.toISOString()}); ` +
        (op.operation === 'reattach'
          ? 'finish it with pgparts reattach'
          : op.operation === 'convert'
            ? `${continueConversion(family.name)}; cleanup ends it`
            : `the next pgparts apply${op.operation === 'retire' ? ' --yes' : ''} finishes it`),
    );
  }
  if (counts.running > 0) return lines;
  const left: string[] = [];
  if (work.drainTables.length > 0) {
    left.push(`drain tables ${work.drainTables.map((t) => `${t.name} (${t.role})`).join(', ')}`);
  }
  if (work.captureTriggers.length > 0) {
    left.push(
      `capture triggers logging every write on ${work.captureTriggers.join(', ')} ` +
        `(change log: ${work.changeLogRows} row(s))`,
    );
  }
  if (left.length > 0) {
    lines.push(
      `family ${family.name}: left by an interrupted drain: ${left.join('; ')}; ` +
        (interrupted.length > 0
          ? 'they go when that operation is finished (see above)'
          : 'no operation is recorded for them: pgparts drain <table> <key> of the key finishes them'),
    );
  }
  return lines;
}

/** How far ahead a RANGE table is covered: stops looking after this many intervals. */
const LOOKAHEAD_LIMIT = 10_000;

/**
 * Sums up `snapshot` for `families` at `now` (the snapshot's own clock by default). `planned`
 * is the plan for the same snapshot, computed here (for the families that match the database)
 * when not given. A family whose spec does not match the database is not summed up: its
 * problems are in `mismatched` and `attention`, and the other families are reported as usual.
 */
export function status(
  families: readonly FamilySpec[],
  snapshot: Snapshot,
  now: Date = snapshot.takenAt,
  planned?: Plan,
): StatusReport {
  if (!planned) checkNow(now);
  const attention: string[] = [];
  const result: FamilyStatus[] = [];
  const parsed = parseFamilies(families);
  const matched = matchSpecs(parsed, snapshot);
  const { mismatched } = matched;
  const made = planned ?? planMatched(matched, now);
  attention.push(...mismatchLines(mismatched));
  const matching = parsed.filter(
    (f) => !mismatched.some((m) => m.family === f.name && m.schema === f.schema),
  );
  for (const family of matching) {
    const found = findFamilySnapshot(snapshot, family);
    if (!found) continue;
    const p = family.partitionBy;
    // Tables not partitioned until the conversion's swap: no premake window to speak of yet
    // (writes go to the legacy table, and apply leaves the family to the conversion).
    const converting = beingConverted(found) !== undefined;
    const tables: TableStatus[] = found.tables.map((table) => {
      // The table as the CLI's <table> takes it, and in prose where another family's table has
      // the same name (in another schema), qualified.
      const argument = tableArgument(family, table.name, parsed);
      const shared = parsed.filter((f) => f.tables.includes(table.name)).length > 1;
      const qualify = (name: string) => (shared ? `${family.schema}.${name}` : name);
      const index = indexTable(family, table);
      let firstUncovered: PartitionKey | null = null;
      if (p.strategy === 'range' && !converting) {
        let from = intervalStart(p.interval, now);
        for (let i = 0; i < LOOKAHEAD_LIMIT; i += 1) {
          const key: PartitionKey = { kind: 'range', from, to: addIntervals(p.interval, from, 1) };
          const state = coverage(index, key).state;
          if (state === 'none' || state === 'overlap') {
            firstUncovered = key;
            break;
          }
          from = key.to;
        }
        const current = intervalStart(p.interval, now).getTime();
        if (
          firstUncovered &&
          firstUncovered.kind === 'range' &&
          firstUncovered.from.getTime() === current
        ) {
          const label = keyLabel(firstUncovered);
          const retired = found.retiredKeys.includes(label)
            ? `; ${label} is recorded as retired, so apply will not create it: pgparts unretire ${argument} ${keyWord(firstUncovered)}, then pgparts apply`
            : '; run pgparts apply';
          attention.push(
            `${qualify(table.name)} has no partition for the current ${p.interval} (${label}): ` +
              `rows written now ${family.defaultPartition ? 'go to DEFAULT' : 'fail'}${retired}`,
          );
        }
      }
      const defaultPartition = index.defaultPartition;
      const held = defaultPartition?.defaultRows ?? null;
      const keys = held ? defaultKeys(held) : { keys: [], all: true };
      if (defaultPartition && held?.hasRows) {
        // The plan drains the keys the spec wants; a key it does not declare stays in DEFAULT
        // (where such rows are meant to land) until someone drains it by hand.
        const drained = new Set(
          made.steps
            .filter((s) => s.family === family.name && s.kind === 'drain')
            .map((s) => s.label),
        );
        const byHand = keys.keys.filter((k) => !drained.has(keyLabel(k)));
        const retired = new Set(found.retiredKeys);
        const gone = byHand.filter((k) => retired.has(keyLabel(k)));
        const beyond = byHand.filter(
          (k) => !retired.has(keyLabel(k)) && outsideRetention(family, found, k, now),
        );
        // A key whose partition name another partition has (text values differing only in case
        // or punctuation): a drain of it is refused, so it is not suggested.
        const nameOf = (k: PartitionKey) => {
          try {
            return partitionName(family, table.name, k);
          } catch {
            return null; // a name PostgreSQL would cut: the drain says so
          }
        };
        const nameTaken = (k: PartitionKey) => {
          const name = nameOf(k);
          const holder = table.partitions.find((part) => part.name === name);
          return (
            holder !== undefined && (holder.key === null || keyLabel(holder.key) !== keyLabel(k))
          );
        };
        const rest = byHand.filter((k) => !gone.includes(k) && !beyond.includes(k));
        const taken = rest.filter(nameTaken);
        const drainable = rest.filter((k) => !taken.includes(k));
        const them = (keys: PartitionKey[]) => (keys.length === 1 ? 'it' : 'them');
        const list = (keys: PartitionKey[]) =>
          `${keys.map(keyLabel).join(', ')} ${keys.length === 1 ? 'is' : 'are'}`;
        const parts: string[] = [];
        if (byHand.length === 0) parts.push('pgparts plan shows the drain');
        else if (byHand.length < keys.keys.length)
          parts.push(
            `pgparts plan shows the drain of ${keys.keys.length - byHand.length === 1 ? 'the other one' : 'the others'}`,
          );
        if (drainable.length > 0) {
          parts.push(
            `apply leaves ${drainable.map(keyLabel).join(', ')} there, the spec asking for no ` +
              `partition of ${them(drainable)}: pgparts drain ${argument} ` +
              `${keyWord(drainable[0] as PartitionKey)}${drainable.length > 1 ? ', and so on' : ''}`,
          );
        }
        if (taken.length > 0) {
          parts.push(
            `${list(taken)} without a partition name of ${taken.length === 1 ? 'its' : 'their'} own: ` +
              `${taken.map(nameOf).join(', ')} ` +
              `${taken.length === 1 ? 'is' : 'are'} another key's (text values differing only in case or punctuation share one), so a drain is refused; ` +
              "such rows stay in DEFAULT unless the value or the family's naming changes",
          );
        }
        if (gone.length > 0) {
          parts.push(
            `${list(gone)} retired (pgparts_retired_keys): apply makes no partition of ` +
              `${them(gone)} and a drain is refused; to keep the rows in a partition, ` +
              `pgparts unretire ${argument} ${keyWord(gone[0] as PartitionKey)} first ` +
              '(with the key inside the retention window), else delete them; a key archived ' +
              'instead: copy them into its archived tables and out of DEFAULT, then pgparts reattach',
          );
        }
        if (beyond.length > 0) {
          const drop = (family.retention?.mode ?? 'drop') === 'drop';
          parts.push(
            `${list(beyond)} outside the retention window: a partition drained for ` +
              `${them(beyond)} would be retired by the next apply --yes` +
              (drop ? ', dropping the rows moved into it' : ' (archived with its rows)'),
          );
        }
        const how = parts.join('; ');
        // Rows of keys the spec asks no partition for are where the spec puts them: the line
        // says what apply does with them and how to move them, not that they are misplaced.
        attention.push(
          byHand.length === 0
            ? `${qualify(defaultPartition.name)} holds ${describeDefault(defaultPartition, keys)}; ` +
                `they belong in their own partitions (${how})`
            : `${qualify(defaultPartition.name)} holds ${describeDefault(defaultPartition, keys)}: ${how}`,
        );
      }
      const sizes = table.partitions.map((part) => part.bytes);
      return {
        table: table.name,
        partitions: table.partitions,
        defaultPartition: defaultPartition?.name ?? null,
        defaultHasRows: held?.hasRows ?? null,
        defaultRows: held?.exact?.total ?? null,
        defaultKeys: keys.keys,
        defaultKeysAll: keys.all,
        firstUncovered,
        bytes: sizes.some((b) => b === null)
          ? null
          : sizes.reduce<number>((sum, b) => sum + (b ?? 0), 0),
      };
    });
    attention.push(...unfinishedAttention(family, found.unfinished, now));
    const steps = made.steps.filter((s) => s.family === family.name);
    const pending = steps.filter((s) => !s.destructive);
    const notices = made.notices.filter((n) => n.family === family.name);
    if (pending.length > 0) {
      const labels = [...new Set(pending.map((s) => s.label))].join(', ');
      attention.push(
        `family ${family.name}: ${pending.length} step(s) pending for ${labels}; run pgparts apply`,
      );
    }
    for (const notice of notices) {
      // An interrupted operation is already a line of its own (unfinishedAttention), with its age.
      if (
        notice.severity === 'warning' &&
        notice.kind !== 'operation-interrupted' &&
        notice.kind !== 'conversion-paused'
      )
        attention.push(`family ${family.name}: ${notice.message}`);
    }
    result.push({
      family: family.name,
      description: describe(family),
      tables,
      pending,
      retentionCandidates: steps.filter((s) => s.kind === 'retire'),
      unfinished: found.unfinished,
      notices,
    });
  }
  return { takenAt: snapshot.takenAt, now, families: result, mismatched, attention };
}
