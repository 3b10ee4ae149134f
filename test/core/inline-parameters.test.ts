import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inlineParameters } from '../../src/run/inline-parameters.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * pgparts writes a statement's parameters into its text the first time it sends it over
 * postgres.js (src/run/session.ts says why): the server must read each literal as it read the
 * parameter, whatever the text around it holds.
 */
const t = useTestDatabase({ migrated: false });

describe('inlineParameters', () => {
  it('replaces only the $n that are parameters', () => {
    const text = [
      "SELECT $1::text AS a, '$1' AS quoted, E'it''s \\\\ $2' AS escaped, \"col$1\" AS named,",
      '  a$1, $body$ $1 $body$ AS body, $$ $2 $$ AS plain -- $1 in a comment',
      '  /* $2 /* nested $1 */ still comment $2 */, $10::int AS tenth, $2::int AS second',
    ].join('\n');
    const params = ['one', 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(inlineParameters(text, params)).toBe(
      [
        "SELECT ('one')::text AS a, '$1' AS quoted, E'it''s \\\\ $2' AS escaped, \"col$1\" AS named,",
        '  a$1, $body$ $1 $body$ AS body, $$ $2 $$ AS plain -- $1 in a comment',
        "  /* $2 /* nested $1 */ still comment $2 */, ('10')::int AS tenth, ('2')::int AS second",
      ].join('\n'),
    );
  });

  it('writes null, booleans and numbers as the parameters are read; leaves other kinds alone', () => {
    expect(inlineParameters('SELECT $1, $2, $3, $4', [null, true, false, -1.5])).toBe(
      "SELECT (NULL), (true), (false), ('-1.5')",
    );
    expect(inlineParameters('SELECT $1', [new Date()])).toBeNull();
    expect(inlineParameters('SELECT $1', [[1, 2]])).toBeNull();
    expect(inlineParameters('SELECT $1', [Number.NaN])).toBeNull();
    expect(inlineParameters('SELECT $2', ['only one'])).toBeNull();
    expect(inlineParameters('SELECT $x$ unterminated $1', ['a'])).toBeNull();
  });

  it('the server reads every string back as it was, with standard_conforming_strings on or off', async () => {
    const session = t.connect({ max: 1 });
    for (const conforming of ['on', 'off']) {
      await session.unsafe(`SET standard_conforming_strings = ${conforming}`);
      await fc.assert(
        fc.asyncProperty(
          fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\u0000')),
          fc.integer(),
          async (text, n) => {
            const inlined = inlineParameters(
              "SELECT $1::text AS s, $2::int8 AS n, '$1' AS kept -- $2",
              [text, n],
            );
            const [row] = await session.unsafe<{ s: string; n: string; kept: string }[]>(
              inlined ?? '',
            );
            expect(row).toEqual({ s: text, n: String(n), kept: '$1' });
          },
        ),
        { numRuns: 150 },
      );
    }
  });
});
