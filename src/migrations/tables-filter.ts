import type { FamilySpec } from '../define/spec.js';

/**
 * A `tablesFilter` for the app's drizzle.config.ts that keeps drizzle-kit's introspection away
 * from pgparts's tables. drizzle-kit knows neither partitions nor partitioned parents: `pull`
 * writes each partition as a table of its own, and `push` proposes to drop the partitions it did
 * not create. The filter is a list of negated globs (drizzle-kit keeps a table when no `!` glob
 * excludes it): each parent, its DEFAULT partition, and its partitions by the family's naming
 * scheme (`{suffix}` starts with the year, `{value}` is anything), and pgparts's own bookkeeping
 * tables (`pgparts_*`: operations, ownership, maintenance runs, retired keys, kept in the families'
 * schemas). A plain table whose name fits a family's partition pattern is hidden too; `extra`
 * adds globs of your own.
 *
 * It makes `pull` right. It does not make `push` usable: the filter applies to what drizzle-kit
 * reads from the database, not to the app's schema, and drizzle-kit never reads a partitioned
 * parent, so push always proposes to create the parents again (refused: they exist) and to drop
 * their serial sequences. With the filter it stops there having changed nothing; without it,
 * every partition also looks to it like a table gone from the schema (README: which
 * drizzle-kit commands are safe).
 */
export function pgpartsTablesFilter(
  families: readonly Pick<FamilySpec, 'tables' | 'partitionBy'>[],
  extra: readonly string[] = [],
): string[] {
  const globs: string[] = ['!pgparts_*'];
  for (const family of families) {
    for (const table of family.tables) {
      const name = escapeGlob(table);
      const partitions = escapeGlob(family.partitionBy.naming)
        .replaceAll(escapeGlob('{table}'), name)
        .replaceAll(escapeGlob('{suffix}'), '[0-9]*')
        .replaceAll(escapeGlob('{value}'), '*');
      globs.push(`!${name}`, `!${name}_default`, `!${partitions}`);
    }
  }
  return [...globs, ...extra];
}

/** Backslash before every glob character, so a name matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]{}()!+@\\]/g, '\\$&');
}
