import { describe, expect, it } from 'vitest';
import { rememberRecent } from '../../src/catalog/recent.js';

describe('what a process remembers between runs stays bounded', () => {
  it('keeps the newest entries, a key set again counting as new', () => {
    const map = new Map<string, number>();
    for (const [i, key] of ['a', 'b', 'c'].entries()) rememberRecent(map, key, i, 3);
    rememberRecent(map, 'a', 10, 3); // a is the newest now, b the oldest
    rememberRecent(map, 'd', 4, 3);
    expect([...map]).toEqual([
      ['c', 2],
      ['a', 10],
      ['d', 4],
    ]);
    rememberRecent(map, 'e', 5, 1);
    expect([...map]).toEqual([['e', 5]]);
  });
});
