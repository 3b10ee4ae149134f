import { describe, expect, it } from 'vitest';
import { isPgpartsError } from '../../src/errors.js';
import { quoteIdent, quoteQualified, truncateIdentifier } from '../../src/sql/identifiers.js';
import {
  dollarQuoted,
  integerLiteral,
  textLiteral,
  utcTimestampLiteral,
} from '../../src/sql/literals.js';
import { expectPgpartsError, thrown } from '../support/pgparts-error.js';

describe('quoteIdent', () => {
  it('quotes plain lower-case names', () => {
    expect(quoteIdent('leaderboard_run_s14')).toBe('"leaderboard_run_s14"');
    expect(quoteQualified('public', 'killmails_raw')).toBe('"public"."killmails_raw"');
  });

  it('quotes any name PostgreSQL can store, doubling inner quotes', () => {
    expect(quoteIdent('occurredAt')).toBe('"occurredAt"');
    expect(quoteIdent('Events')).toBe('"Events"');
    expect(quoteIdent('with space')).toBe('"with space"');
    expect(quoteIdent('a"; DROP TABLE x; --')).toBe('"a""; DROP TABLE x; --"');
    expect(quoteIdent('9starts_with_digit')).toBe('"9starts_with_digit"');
  });

  it.each([
    ['a"; DROP TABLE x; --', '"a""; DROP TABLE x; --"'],
    ['with space', '"with space"'],
    ['Upper', '"Upper"'],
    ['semi;colon', '"semi;colon"'],
    ['9starts_with_digit', '"9starts_with_digit"'],
    ['""', '""""""'],
    ['émoji 🐘', '"émoji 🐘"'],
    ['x'.repeat(63), `"${'x'.repeat(63)}"`],
  ])('quotes %j as %s', (name, quoted) => {
    expect(quoteIdent(name)).toBe(quoted);
  });

  it.each([
    ['', /cannot be empty/],
    ['nul\u0000byte', /NUL/],
    ['x'.repeat(64), /at most 63 bytes \(this one has 64/],
    // 21 three-byte characters: 63 bytes fit; one more does not.
    ['€'.repeat(22), /at most 63 bytes \(this one has 66/],
    ['lone \ud800 surrogate', /valid Unicode/],
  ])('refuses %j with an invalid-input PgpartsError naming it', (name, reason) => {
    let caught: unknown;
    try {
      quoteIdent(name);
    } catch (error) {
      caught = error;
    }
    expect(isPgpartsError(caught, 'invalid-input')).toBe(true);
    expect((caught as Error).message).toMatch(/pgparts: refusing identifier/);
    expect((caught as Error).message).toMatch(reason);
    expect((caught as Error).message).toContain(JSON.stringify(name));
  });

  it('truncateIdentifier cuts at 63 bytes without splitting a character', () => {
    expect(truncateIdentifier('a'.repeat(70))).toBe('a'.repeat(63));
    expect(truncateIdentifier('€'.repeat(22))).toBe('€'.repeat(21));
    expect(truncateIdentifier(`${'a'.repeat(62)}€`)).toBe('a'.repeat(62));
    expect(truncateIdentifier('short')).toBe('short');
  });

  it.each([[''], ['x'.repeat(64)], ['é'.repeat(32)], ['nul\0byte']])(
    'refuses %j, which PostgreSQL cannot keep as written',
    (name) => {
      expect(() => quoteIdent(name)).toThrow(/pgparts: refusing identifier/);
    },
  );
});

describe('literals', () => {
  it('writes UTC instants with an explicit +00 offset', () => {
    expect(utcTimestampLiteral(new Date('2026-11-01T00:00:00Z'))).toBe("'2026-11-01 00:00:00+00'");
  });
  it('refuses non-integers as LIST values', () => {
    expect(integerLiteral(14)).toBe('14');
    expectPgpartsError(
      thrown(() => integerLiteral(1.5)),
      'invalid-input',
      { message: /not an integer/ },
    );
    expectPgpartsError(
      thrown(() => integerLiteral(Number.NaN)),
      'invalid-input',
      { message: /not an integer/ },
    );
  });
  it('doubles quotes in text literals', () => {
    expect(textLiteral("it's")).toBe("'it''s'");
  });
});

describe('dollarQuoted', () => {
  it('quotes with $pgparts$, or with a tag the body does not hold, not even across its end', () => {
    expect(dollarQuoted(' BEGIN NULL; END ')).toBe('$pgparts$ BEGIN NULL; END $pgparts$');
    // A name quoted inside the body that holds the tag would otherwise end the string there.
    expect(dollarQuoted("SELECT '$pgparts$'")).toBe("$pgparts_1$SELECT '$pgparts$'$pgparts_1$");
    expect(dollarQuoted("SELECT '$pgparts$', '$pgparts_1$'")).toBe(
      "$pgparts_2$SELECT '$pgparts$', '$pgparts_1$'$pgparts_2$",
    );
    // "...$pgparts" followed by the closing "$pgparts$" would read as the tag one character early.
    expect(dollarQuoted('x $pgparts')).toBe('$pgparts_1$x $pgparts$pgparts_1$');
  });
});
