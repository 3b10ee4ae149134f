/**
 * Sets `key` in `map` as its newest entry and drops the oldest ones past `limit`: a Map keeps
 * insertion order, so the first key is the one set longest ago. What a process remembers from
 * one maintenance run to the next (second-batch-guess.ts, empty-defaults.ts, run/session.ts)
 * stays bounded however many families or databases it serves.
 */
export function rememberRecent<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= limit) break;
    map.delete(oldest);
  }
}
