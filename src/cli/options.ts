import { InvalidArgumentError } from 'commander';

/** A commander argument parser for a whole number of at least `min`. */
export function wholeNumber(min: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < min) {
      throw new InvalidArgumentError(`expected a whole number of ${min} or more, got ${value}`);
    }
    return parsed;
  };
}

/** The global options every subcommand reads. */
export interface GlobalOptions {
  databaseUrl?: string;
  config?: string;
  /** Seconds; see connection.ts. */
  connectTimeout?: number;
  queryTimeout?: number;
  replyTimeout?: number;
}
