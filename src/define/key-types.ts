import { baseKeyType, KEY_TYPES } from './key-type-names.js';
import { type FamilySpec, listValueType } from './spec.js';

/** The types `family`'s key column may have, in format_type's spelling. */
export function acceptedKeyTypes(family: FamilySpec): readonly string[] {
  const p = family.partitionBy;
  return p.strategy === 'range' ? KEY_TYPES.range : KEY_TYPES[listValueType(p)];
}

/** `a, b or c`. */
function orList(items: readonly string[]): string {
  return items.length < 2
    ? items.join('')
    : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/**
 * Why a key column of type `type` cannot carry `family`'s partitions (an enum, a RANGE on an id,
 * text values on an integer column), or undefined when it can. `type` is format_type's text or
 * drizzle-kit's name; the message shows it as given.
 */
export function keyTypeProblem(family: FamilySpec, type: string): string | undefined {
  const accepted = acceptedKeyTypes(family);
  if (accepted.includes(baseKeyType(type))) return undefined;
  const p = family.partitionBy;
  const what =
    p.strategy === 'range'
      ? 'RANGE families (bounds are dates and times)'
      : `LIST families with ${listValueType(p)} values`;
  const problem = `partition key ${p.column} is ${type}; ${what} need ${orList(accepted)}`;
  if (p.strategy !== 'list') return problem;
  // The column fits the other kind of LIST: the values (or valueType) are what is wrong.
  const other = listValueType(p) === 'text' ? 'integer' : 'text';
  if (!KEY_TYPES[other].some((t) => t === baseKeyType(type))) return problem;
  return `${problem} (the column takes ${other} values: give them as ${other === 'integer' ? 'numbers' : 'strings'}, or set valueType: '${other}')`;
}
