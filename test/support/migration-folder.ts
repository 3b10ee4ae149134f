import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

/** Every file of a migrations folder and its meta/ (path relative to it -> text): to compare a folder before and after. */
export function folderText(out: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const dir of ['', 'meta']) {
    for (const name of readdirSync(join(out, dir))) {
      if (name !== 'meta') files.set(join(dir, name), readFileSync(join(out, dir, name), 'utf8'));
    }
  }
  return files;
}
