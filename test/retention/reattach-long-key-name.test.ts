import { describe, expect, it } from 'vitest';
import { reattachKey } from '../../src/ops/reattach.js';
import { retireKey } from '../../src/ops/retention.js';
import { month2026 } from '../support/month-key.js';
import { useTestDatabase } from '../support/test-database.js';
import { eventsDigests, eventsFamily, eventsWithNotes } from './events-with-notes.js';

const t = useTestDatabase({ migrated: false });

/**
 * An archive keeps the family's foreign keys between the archived tables as keys of their own,
 * named `<key>_archived`, which PostgreSQL cuts to 63 bytes. A key named as drizzle-kit names them
 * (table, columns, referenced table and columns) is long enough to lose the suffix: reattach must
 * still find and drop it, or the reattached partition keeps a key of its own that overrides the
 * family's ON DELETE CASCADE, and archiving the key again fails on the name.
 */
const LONG = 'event_notes_event_id_at_events_id_at_fk_made_long_like_drizzle_kit_names';
const family = eventsFamily;
const jan = month2026(1);

describe('reattach of a family whose foreign key has a long name', () => {
  it('drops the archive’s key: the cascade works again, and the key can be archived again', async () => {
    expect(Buffer.byteLength(`${LONG}_archived`)).toBeGreaterThan(63);
    const before = await eventsWithNotes(
      t,
      `CONSTRAINT ${LONG} FOREIGN KEY (event_id, at) REFERENCES events (id, at) ON DELETE CASCADE`,
    );
    await retireKey(t.db, family, jan, { mode: 'archive', force: true });
    const [link] = await t.sql<{ name: string }[]>`
      SELECT conname AS name FROM pg_constraint
      WHERE conrelid = 'pgparts_archive.event_notes_2026_01'::regclass AND contype = 'f'
        AND confrelid = 'pgparts_archive.events_2026_01'::regclass`;
    expect(link?.name).not.toMatch(/_archived$/);

    await reattachKey(t.db, family, jan);
    expect(await eventsDigests(t)).toEqual(before);
    // The reattached notes carry the family's key only (to events, inherited), none to a partition.
    const keys = await t.sql<{ referenced: string }[]>`
      SELECT confrelid::regclass::text AS referenced FROM pg_constraint
      WHERE conrelid = 'event_notes_2026_01'::regclass AND contype = 'f'`;
    expect(keys).toEqual([{ referenced: 'events' }]);
    const gone = await t.sql`DELETE FROM events WHERE id = 1 RETURNING id`;
    expect(gone).toHaveLength(1);
    const [notes] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM event_notes WHERE event_id = 1`;
    expect(notes?.n).toBe(0);

    // Archived again: the link's name is free.
    const again = await retireKey(t.db, family, jan, { mode: 'archive', force: true });
    expect(again.partitions).toHaveLength(2);
    const [archived] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pgparts_archive.event_notes_2026_01`;
    expect(archived?.n).toBe(299);
  });
});
