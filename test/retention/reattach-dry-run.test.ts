import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reattachDryRun, reattachKey } from '../../src/ops/reattach.js';
import { retireKey } from '../../src/ops/retention.js';
import { pgpartsIn } from '../cli/run-cli.js';
import { month2026 } from '../support/month-key.js';
import { recordingDatabase } from '../support/recording.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';
import { eventsFamily, eventsWithNotes } from './events-with-notes.js';

const t = useTestDatabase({ migrated: false });

/**
 * reattach had no dry run: it read and changed table by table, so nothing could show what it
 * would do before it did it. Its statements are now built before the first change, and
 * reattachDryRun (`pgparts reattach --dry-run`) returns them without changing anything; the run
 * then sends exactly those, table by table.
 */
const family = eventsFamily;
const jan = month2026(1);

const archivedTables = async () =>
  (
    await t.sql<{ name: string }[]>`
      SELECT n.nspname || '.' || c.relname AS name FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname LIKE 'event%_2026_01' ORDER BY 1`
  ).map((r) => r.name);

describe('reattach --dry-run', () => {
  it('shows each table’s statements, changes nothing, and the run sends exactly those', async () => {
    const before = await eventsWithNotes(t);
    await retireKey(t.db, family, jan, { mode: 'archive', force: true });
    const archived = await archivedTables();
    expect(archived).toEqual([
      'pgparts_archive.event_notes_2026_01',
      'pgparts_archive.events_2026_01',
    ]);

    const preview = await reattachDryRun(t.db, family, jan);
    expect(preview).toMatchObject({
      key: '2026-01-01..2026-02-01',
      archiveSchema: 'pgparts_archive',
    });
    // Referenced table first; each moved back, checked, attached and recorded as pgparts's own.
    expect(preview.units.map((u) => [u.archived, u.partition, u.rows])).toEqual([
      ['pgparts_archive.events_2026_01', 'events_2026_01', 300],
      ['pgparts_archive.event_notes_2026_01', 'event_notes_2026_01', 300],
    ]);
    const notes = preview.units[1]?.statements ?? [];
    expect(notes[0]).toMatch(
      /^ALTER TABLE "pgparts_archive"\."event_notes_2026_01" DROP CONSTRAINT "[^"]+_archived"$/,
    );
    for (const unit of preview.units) {
      expect(unit.statements.some((s) => s.includes(' ATTACH PARTITION '))).toBe(true);
      expect(unit.statements.at(-1)).toMatch(/^INSERT INTO "public"\."pgparts_owned_tables" /);
    }
    expect(await archivedTables()).toEqual(archived);

    const app = mkdtempSync(join(tmpdir(), 'pgparts-reattach-'));
    writeFileSync(
      join(app, 'pgparts.config.cjs'),
      `module.exports = { families: [${JSON.stringify(family)}] };\n`,
    );
    const cli = await pgpartsIn(app, t.url, 'reattach', 'events', '2026-01', '--dry-run');
    rmSync(app, { recursive: true, force: true });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(
      /^would reattach events 2026-01-01\.\.2026-02-01 from pgparts_archive/,
    );
    for (const unit of preview.units) {
      for (const statement of unit.statements) expect(cli.stdout).toContain(statement);
    }
    expect(await archivedTables()).toEqual(archived);

    // The run: the same statements, in the same order, among what it sent.
    const recording = recordingDatabase(t);
    try {
      const back = await reattachKey(recording.db, family, jan);
      expect(back.partitions.map((p) => [p.partition, p.rows])).toEqual([
        ['events_2026_01', 300],
        ['event_notes_2026_01', 300],
      ]);
      const expected = preview.units.flatMap((u) => u.statements);
      const sent = recording.statements.filter((s) => expected.includes(s));
      expect(sent).toEqual(expected);
    } finally {
      await recording.close();
    }
    expect(await archivedTables()).toEqual(['public.event_notes_2026_01', 'public.events_2026_01']);
    expect([
      await tableDigest(t.sql, 'events', ['id']),
      await tableDigest(t.sql, 'event_notes', ['id']),
    ]).toEqual(before);
  });
});
