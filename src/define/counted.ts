/**
 * `1 partition`, `3 partitions`, `1 year`: a count and its noun, for messages. `plural` for
 * nouns that do not just take an `s`.
 */
export function counted(count: number, noun: string, plural = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : plural}`;
}
