import { z } from 'zod';

/** Ids of seasons, periods and dungeons: integers the way the tables store them. */
export const idSchema = z.number().int().safe();

/** How many rows a read may return: bounded, so a bad caller cannot ask for a whole season. */
export const limitSchema = (max: number, fallback: number) =>
  z.number().int().min(1).max(max).default(fallback);
