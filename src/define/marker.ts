/**
 * The comment pgparts puts on every partition it creates. Only partitions carrying it are ever
 * removed automatically; anything else is reported and left alone.
 */
export const MANAGED_MARKER = 'pgparts:managed';

export function isManagedComment(comment: string | null | undefined): boolean {
  return typeof comment === 'string' && comment.startsWith(MANAGED_MARKER);
}
