import { and, count, desc, eq, gte, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendQuery } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { killmailParticipants } from '../tables.js';
import { cursorSchema, gameIdSchema, instantSchema, limitSchema } from './inputs.js';

export const INVOLVED_KINDS = ['character', 'corporation', 'alliance'] as const;
export type InvolvedKind = (typeof INVOLVED_KINDS)[number];

export const killsInvolvingInput = z
  .object({
    kind: z.enum(INVOLVED_KINDS),
    id: gameIdSchema,
    limit: limitSchema(500, 50),
    before: cursorSchema.optional(),
    /** Optional bounds: each one given prunes the partitions on its side. */
    from: instantSchema.optional(),
    to: instantSchema.optional(),
  })
  .strict()
  // Both given: an empty window is a mistake to name, not a query that finds nothing.
  .refine((i) => !i.from || !i.to || i.from.getTime() < i.to.getTime(), {
    message: 'the window is empty: pass from < to',
    path: ['from'],
  });
export type KillsInvolvingInput = z.input<typeof killsInvolvingInput>;

const p = killmailParticipants;
const idColumn = { character: p.characterId, corporation: p.corporationId, alliance: p.allianceId };

/**
 * The killmails a character, corporation or alliance took part in (as victim or attacker), newest
 * first, one row per killmail, with a cursor. Index: idx_killmail_participants_<kind>
 * (<kind>_id, killmail_time DESC, killmail_id DESC), partial on the id being NOT NULL, which
 * `<kind>_id = $1` implies. Across all time it cannot prune by nature: every month may hold the
 * entity. The plan reads each partition's index in order under an ordered Append (or Merge
 * Append) and the LIMIT stops it after the newest months that fill the page; `before`, `from`
 * and `to` prune the months outside them.
 */
export function killsInvolvingQuery(db: AnyPgDatabase, input: KillsInvolvingInput) {
  const i = parseQueryInput('killsInvolving', killsInvolvingInput, input);
  const column = idColumn[i.kind];
  const conditions: (SQL | undefined)[] = [eq(column, i.id)];
  if (i.from) conditions.push(gte(p.killmailTime, i.from));
  if (i.to) conditions.push(lt(p.killmailTime, i.to));
  if (i.before) {
    const t = i.before.killmailTime;
    conditions.push(
      lte(p.killmailTime, t),
      or(lt(p.killmailTime, t), and(eq(p.killmailTime, t), lt(p.killmailId, i.before.killmailId))),
    );
  }
  return db
    .select({
      killmailId: p.killmailId,
      killmailTime: p.killmailTime,
      /** Whether the entity was (or, for a group, included) the victim. */
      asVictim: sql<boolean>`bool_or(${p.isVictim})`.mapWith(Boolean),
      /** How many of the killmail's participants it accounts for. */
      participants: count(),
    })
    .from(p)
    .where(and(...conditions))
    .groupBy(p.killmailTime, p.killmailId)
    .orderBy(desc(p.killmailTime), desc(p.killmailId))
    .limit(i.limit);
}

export async function killsInvolving(
  db: AnyPgDatabase,
  input: KillsInvolvingInput,
  options?: QueryOptions,
) {
  const o = parseQueryOptions('killsInvolving', options);
  return await runQuery('killsInvolving', () =>
    sendQuery('killsInvolving', killsInvolvingQuery(db, input), o),
  );
}
