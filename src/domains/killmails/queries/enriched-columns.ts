import { desc } from 'drizzle-orm';
import { killmailsEnriched } from '../tables.js';

/** What an enrichment read returns: the killmail's key, value and tags, not the whole blob. */
export const enrichedColumns = {
  killmailId: killmailsEnriched.killmailId,
  killmailTime: killmailsEnriched.killmailTime,
  iskValue: killmailsEnriched.iskValue,
  moduleTags: killmailsEnriched.moduleTags,
};

export const enrichedNewestFirst = [
  desc(killmailsEnriched.killmailTime),
  desc(killmailsEnriched.killmailId),
] as const;
