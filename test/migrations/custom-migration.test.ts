import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addCustomMigration } from '../../src/migrations/custom-migration.js';
import { runDrizzleKitGenerate } from '../../src/migrations/drizzle-kit.js';
import { fixtureApp } from '../support/fixture-app.js';

const app = fixtureApp();
afterAll(() => app.remove());

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const defaults = { prefix: 'index', breakpoints: true };

describe('a custom migration written without launching drizzle-kit', () => {
  it('is what drizzle-kit generate --custom writes, and drizzle-kit then finds no change', () => {
    // The app's first migration, by drizzle-kit: the journal and the snapshot the next builds on.
    expect(runDrizzleKitGenerate(app.dir, 'drizzle.config.ts')).toBe('wrote');
    const ours = join(app.dir, 'drizzle');
    const theirs = join(app.dir, 'drizzle-kit-out');
    cpSync(ours, theirs, { recursive: true });
    writeFileSync(
      join(app.dir, 'theirs.config.ts'),
      "import base from './drizzle.config';\nexport default { ...base, out: './drizzle-kit-out' };\n",
    );
    expect(
      runDrizzleKitGenerate(app.dir, 'theirs.config.ts', ['--custom', '--name', 'partitions']),
    ).toBe('wrote');
    expect(addCustomMigration(ours, 'partitions', defaults)).toBe('0001_partitions');

    expect(readdirSync(ours).sort()).toEqual(readdirSync(theirs).sort());
    expect(readdirSync(join(ours, 'meta')).sort()).toEqual(
      readdirSync(join(theirs, 'meta')).sort(),
    );
    expect(readFileSync(join(ours, '0001_partitions.sql'), 'utf8')).toBe(
      readFileSync(join(theirs, '0001_partitions.sql'), 'utf8'),
    );
    // The journal: the same entry but its time; the snapshot: the same content (drizzle-kit
    // writes its keys in its schema's order, this the previous file's) but its own id, chained
    // to the one before (a custom migration changes no schema).
    const when = (journal: { entries: { when: number }[] }) => ({
      ...journal,
      entries: journal.entries.map((e) => ({ ...e, when: 0 })),
    });
    expect(when(json(join(ours, 'meta', '_journal.json')))).toEqual(
      when(json(join(theirs, 'meta', '_journal.json'))),
    );
    const previous = json(join(ours, 'meta', '0000_snapshot.json'));
    const added = json(join(ours, 'meta', '0001_snapshot.json'));
    const expected = json(join(theirs, 'meta', '0001_snapshot.json'));
    expect(added.prevId).toBe(previous.id);
    expect(expected.prevId).toBe(previous.id);
    expect(added.id).not.toBe(previous.id);
    expect({ ...added, id: '?' }).toEqual({ ...expected, id: '?' });

    // An entry always follows the one before in time, even one written in the same millisecond
    // or on a clock behind the last writer's (drizzle's migrator applies an entry only when its
    // time is past the last applied one's): here the last entry is a minute ahead.
    const journalFile = join(ours, 'meta', '_journal.json');
    const ahead = json(journalFile);
    ahead.entries[1].when = Date.now() + 60_000;
    writeFileSync(journalFile, JSON.stringify(ahead, null, 2));
    expect(addCustomMigration(ours, 'online_indexes', defaults)).toBe('0002_online_indexes');
    const times = json(join(ours, 'meta', '_journal.json')).entries.map(
      (e: { when: number }) => e.when,
    );
    expect(times[2]).toBeGreaterThan(times[1]);
    expect(json(join(ours, 'meta', '0002_snapshot.json')).prevId).toBe(added.id);

    // drizzle-kit reads the folder we wrote as its own: nothing changed since.
    expect(runDrizzleKitGenerate(app.dir, 'drizzle.config.ts')).toBe('nothing');
    rmSync(theirs, { recursive: true, force: true });
  });

  it('is left to drizzle-kit for another prefix or a folder without a migration', () => {
    const empty = mkdtempSync(join(tmpdir(), 'pgparts-custom-'));
    try {
      expect(addCustomMigration(empty, 'partitions', defaults)).toBeNull();
      const out = join(app.dir, 'drizzle');
      const before = readFileSync(join(out, 'meta', '_journal.json'), 'utf8');
      expect(
        addCustomMigration(out, 'partitions', { prefix: 'timestamp', breakpoints: true }),
      ).toBeNull();
      expect(readFileSync(join(out, 'meta', '_journal.json'), 'utf8')).toBe(before);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
