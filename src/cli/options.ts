import { type Command, InvalidArgumentError } from 'commander';
import { isLockKey } from '../run/advisory-lock.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_RETRIES,
  MAX_LOCK_TIMEOUT_MS,
  MAX_RETRIES,
} from '../run/lock-timeout.js';
import { memorySizeOption } from '../run/options.js';

/** A commander argument parser for a whole number of at least `min` (and at most `max`). */
export function wholeNumber(min: number, max?: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (
      !/^\d+$/.test(value.trim()) ||
      !Number.isSafeInteger(parsed) ||
      parsed < min ||
      (max !== undefined && parsed > max)
    ) {
      throw new InvalidArgumentError(
        max === undefined
          ? `expected a whole number of ${min} or more, got ${value}`
          : `expected a whole number from ${min} to ${max}, got ${value}`,
      );
    }
    return parsed;
  };
}

/** --drizzle-config of generate and migrate, which find and read it the same way. */
export const DRIZZLE_CONFIG_HELP =
  'drizzle.config file, relative to the current folder (default: drizzle.config.* next to the ' +
  'pgparts config); its `out` and `schema` are read relative to its own folder, as drizzle-kit ' +
  'reads them when run there';

/** The global options every subcommand reads. */
export interface GlobalOptions {
  databaseUrl?: string;
  config?: string;
  /** Seconds; see connection.ts. */
  connectTimeout?: number;
  queryTimeout?: number;
  replyTimeout?: number;
}

/** The options of the one retry loop, spelled and defaulted the same by every command that locks. */
export interface LockOptions {
  lockTimeout: number;
  retries: number;
}

/**
 * `--yes` on a command that never asks (it loses no row): accepted, so that a script may pass it
 * to every command that changes something, as apply, retire and convert's dropping steps take it.
 */
export function acceptYes(command: Command): Command {
  return command.option(
    '--yes',
    `accepted for scripts; ${command.name()} asks nothing (it loses no row)`,
  );
}

/** Adds `--lock-timeout <ms>` and `--retries <n>` (see run/lock-timeout.ts) to `command`. */
export function addLockOptions(command: Command): Command {
  return command
    .option(
      '--lock-timeout <ms>',
      `how long one statement may wait for a lock before it gives up and retries (at most ${MAX_LOCK_TIMEOUT_MS})`,
      wholeNumber(1, MAX_LOCK_TIMEOUT_MS),
      DEFAULT_LOCK_TIMEOUT_MS,
    )
    .option(
      '--retries <n>',
      'tries after the first when a lock could not be had (timeout or deadlock)',
      wholeNumber(0, MAX_RETRIES),
      DEFAULT_RETRIES,
    );
}

/**
 * `--maintenance-work-mem <size>` (drain, apply, plan): the memory a drain's index builds sort
 * in (DrainOptions.maintenanceWorkMem), checked as the API checks it.
 */
export function addBuildMemoryOption(command: Command): Command {
  return command.option(
    '--maintenance-work-mem <size>',
    "memory for each index build's sort after a drain's copy (128MB, 1GB; default the " +
      "server's maintenance_work_mem): a sort that needs more runs on disk, slower",
    (value: string) => {
      const parsed = memorySizeOption.safeParse(value);
      if (!parsed.success) {
        throw new InvalidArgumentError(
          `${parsed.error.issues.map((i) => i.message).join('; ')}, got ${value}`,
        );
      }
      return parsed.data;
    },
  );
}

/**
 * A commander parser for `--lock-key <classid,objid>`: two 32-bit integers, the advisory lock key
 * of apply's maintenance lock (ApplyOptions.lockKey).
 */
export function lockKeyArgument(value: string): [number, number] {
  const parts = value.split(',').map((part) => part.trim());
  const key = parts.map(Number);
  if (parts.some((part) => !/^-?\d+$/.test(part)) || !isLockKey(key)) {
    throw new InvalidArgumentError(
      `expected two 32-bit integers separated by a comma (1885826145,2), got ${value}`,
    );
  }
  return [key[0], key[1]];
}
