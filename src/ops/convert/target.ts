import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { FamilySpec } from '../../define/spec.js';
import { PgpartsError } from '../../errors.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_RETRIES,
  MAX_LOCK_TIMEOUT_MS,
  MAX_RETRIES,
} from '../../run/lock-timeout.js';

/**
 * What a conversion converts to: a family spec (names, partitioning) plus the Drizzle tables that
 * give each table's target shape (columns, keys, foreign keys, indexes), in the family's order,
 * plus `extras`: statements Drizzle cannot express (INCLUDE indexes, materialized views). Extras
 * are written against the unqualified family table names, as in a migration; pgparts runs them
 * with the twin schema first on the search_path, so they create their objects on the twins.
 */
export interface ConversionTarget {
  family: FamilySpec;
  tables: readonly PgTable[];
  extras: readonly string[];
}

export function conversionTarget(input: {
  family: FamilySpec;
  tables: readonly PgTable[];
  extras?: readonly string[];
}): ConversionTarget {
  const names = input.tables.map((t) => getTableConfig(t).name);
  if (names.join(',') !== input.family.tables.join(',')) {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: conversion of family ${input.family.name}: the Drizzle tables (${names.join(', ')}) ` +
        `must be the family's tables in its order (${input.family.tables.join(', ')})`,
    );
  }
  for (const statement of input.extras ?? []) createdObject(statement);
  return { family: input.family, tables: input.tables, extras: input.extras ?? [] };
}

const CREATES =
  /^\s*CREATE\s+(UNIQUE\s+)?(INDEX|MATERIALIZED\s+VIEW|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?"?([a-z_][a-z0-9_]*)"?(?:\s+ON\s+(?:ONLY\s+)?"?([a-z_][a-z0-9_]*)"?)?/i;

/** The object an extra statement creates (and, for an index, on what), or a clear refusal. */
export function createdObject(statement: string): {
  kind: 'index' | 'view';
  name: string;
  on?: string;
} {
  const m = CREATES.exec(statement);
  if (!m?.[3]) {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: a conversion extra must be one CREATE INDEX, CREATE VIEW or CREATE MATERIALIZED ` +
        `VIEW statement with an unqualified name; got: ${statement.slice(0, 80)}`,
    );
  }
  return m[2]?.toUpperCase() === 'INDEX'
    ? { kind: 'index', name: m[3], on: m[4] }
    : { kind: 'view', name: m[3] };
}

/** Options shared by the batch steps; validated before anything runs. */
export const batchOptionsSchema = z
  .object({
    batchSize: z.number().int().min(1).max(1_000_000).default(10_000),
    /** Pause between batches (throttle), in ms. */
    throttleMs: z.number().int().min(0).max(600_000).default(0),
    dryRun: z.boolean().default(false),
  })
  .strict();

export const swapOptionsSchema = z
  .object({
    /** lock_timeout for the swap's lock (docs/postgres-behaviours.md#lock-levels): a blocked DDL would block every query. */
    lockTimeoutMs: z
      .number()
      .int()
      .min(1)
      .max(MAX_LOCK_TIMEOUT_MS)
      .default(DEFAULT_LOCK_TIMEOUT_MS),
    /** Tries after the first at taking the lock, with growing, jittered pauses between them. */
    retries: z.number().int().min(0).max(MAX_RETRIES).optional(),
    /** Deprecated: total tries (`retries` + 1); `retries` wins when both are given. */
    attempts: z
      .number()
      .int()
      .min(1)
      .max(MAX_RETRIES + 1)
      .optional(),
    batchSize: z.number().int().min(1).max(1_000_000).default(10_000),
    dryRun: z.boolean().default(false),
  })
  .strict();

/** Tries after the first: `retries`, else the deprecated `attempts` less one, else the default. */
export function swapRetries(opts: { retries?: number; attempts?: number }): number {
  return opts.retries ?? (opts.attempts !== undefined ? opts.attempts - 1 : DEFAULT_RETRIES);
}

export const verifyOptionsSchema = z
  .object({
    /** Random rows compared column by column, per table and direction. */
    samples: z.number().int().min(0).max(1_000_000).default(200),
    dryRun: z.boolean().default(false),
  })
  .strict();

export type BatchOptions = z.input<typeof batchOptionsSchema>;
export type SwapOptions = z.input<typeof swapOptionsSchema>;
export type VerifyOptions = z.input<typeof verifyOptionsSchema>;

/** zod errors as one message naming the step. */
export function parseOptions<T extends z.ZodType>(
  schema: T,
  step: string,
  input: unknown,
): z.output<T> {
  const result = schema.safeParse(input ?? {});
  if (!result.success) {
    const issues = result.error.issues.map(
      (i) => `${i.path.join('.') || '(options)'}: ${i.message}`,
    );
    throw new PgpartsError(
      'invalid-input',
      `pgparts: convert ${step}: invalid options: ${issues.join('; ')}`,
      { step: `convert ${step}` },
    );
  }
  return result.data;
}
