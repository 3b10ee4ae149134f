import { z } from 'zod';
import { int4Schema } from '../../../query/input.js';

/** Ids of seasons, periods and dungeons: `integer` columns, so the int4 range. */
export const idSchema = int4Schema;

/** How many rows a read may return: bounded, so a bad caller cannot ask for a whole season. */
export const limitSchema = (max: number, fallback: number) =>
  z.number().int().min(1).max(max).default(fallback);
