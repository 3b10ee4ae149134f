import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FolderEntry {
  tag: string;
  when: number;
  sql: string;
}

/** A drizzle-kit style migrations folder (journal and .sql files) with exactly these entries. */
export function writeMigrationFolder(entries: FolderEntry[], dir?: string): string {
  const folder = dir ?? mkdtempSync(join(tmpdir(), 'pgparts-migrations-'));
  mkdirSync(join(folder, 'meta'), { recursive: true });
  for (const entry of entries) writeFileSync(join(folder, `${entry.tag}.sql`), entry.sql);
  const journal = {
    version: '7',
    dialect: 'postgresql',
    entries: entries.map((e, idx) => ({
      idx,
      version: '7',
      when: e.when,
      tag: e.tag,
      breakpoints: true,
    })),
  };
  writeFileSync(join(folder, 'meta', '_journal.json'), JSON.stringify(journal, null, 2));
  return folder;
}
