import { desc } from 'drizzle-orm';
import { killmailsRaw } from '../tables.js';

/** What a feed row carries: the killmail without its raw payload. */
export const feedColumns = {
  killmailId: killmailsRaw.killmailId,
  killmailTime: killmailsRaw.killmailTime,
  systemId: killmailsRaw.systemId,
  shipTypeId: killmailsRaw.shipTypeId,
};

/**
 * Newest first, the cursor's order. killmail_time is NOT NULL, so the plain DESC (NULLS FIRST)
 * of the indexes orders it exactly; killmail_id settles ties.
 */
export const newestFirst = [
  desc(killmailsRaw.killmailTime),
  desc(killmailsRaw.killmailId),
] as const;
