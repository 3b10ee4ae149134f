import type { FamilySpec } from '../../define/spec.js';

/**
 * Where a conversion keeps its things. Nothing here is ever the user's: every object below is
 * created by pgparts for the conversion, so cleanup may drop it (never with CASCADE).
 *
 * - `pgparts_convert`: the state table, the change log and the capture function (all families);
 * - `pgparts_<family>_new`: the partitioned twins and their views before the swap (and after an
 *   unswap). Same table names as the legacy ones, so the legacy view definitions re-bind to the
 *   twins by name when created with this schema first on the search_path;
 * - `pgparts_<family>_old`: the legacy tables and views after the swap, until cleanup.
 */
export { CONVERT_SCHEMA } from '../online-copy/capture.js';
export const STATE_TABLE = 'conversion';

export const twinSchema = (family: FamilySpec) => `pgparts_${family.name}_new`;
export const oldSchema = (family: FamilySpec) => `pgparts_${family.name}_old`;

export type Direction = 'forward' | 'reverse';
/** forward: legacy -> twin, before the swap; reverse: new -> legacy, after it (for unswap). */
export const captureTrigger = (direction: Direction) => `pgparts_capture_${direction}`;
/** Beside it, where the copy has keys to other tables: removes a row's copy as it goes. */
export const removalTrigger = (direction: Direction) => `pgparts_remove_copies_${direction}`;
/** Fills the partition column of a legacy table that lacks it, on every insert and update. */
export const DERIVE_TRIGGER = 'pgparts_derive_partition_key';
export const deriveFunction = (family: FamilySpec, table: string) =>
  `derive_${family.name}_${table}`;

/** Where the two sides of the conversion live, before and after the swap. */
export interface Sides {
  /** schema of the legacy (unpartitioned) tables */
  legacy: string;
  /** schema of the partitioned tables */
  partitioned: string;
}

export function sides(family: FamilySpec, swapped: boolean): Sides {
  return swapped
    ? { legacy: oldSchema(family), partitioned: family.schema }
    : { legacy: family.schema, partitioned: twinSchema(family) };
}
