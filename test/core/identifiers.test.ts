import { describe, expect, it } from 'vitest';
import { quoteIdent, quoteQualified } from '../../src/sql/identifiers.js';
import { integerLiteral, textLiteral, utcTimestampLiteral } from '../../src/sql/literals.js';

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
    expect(() => integerLiteral(1.5)).toThrow(/not an integer/);
    expect(() => integerLiteral(Number.NaN)).toThrow(/not an integer/);
  });
  it('doubles quotes in text literals', () => {
    expect(textLiteral("it's")).toBe("'it''s'");
  });
});
