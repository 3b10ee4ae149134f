/**
 * JSON with every object's keys sorted, at every level: the same value gives the same text
 * whatever order its keys were written in (drizzle-kit's custom migrations reorder a snapshot's
 * keys; a spec may be built in any order).
 */
export function canonicalJson(value: unknown): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([k, x]) => [k, sorted(x)]),
          )
        : v;
  return JSON.stringify(sorted(value));
}
