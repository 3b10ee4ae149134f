/**
 * A conversion runs step by step, by hand or from a deploy, and rests between steps: one whose
 * last step ended (its recorded phase is that step's end) is paused, waiting for its next step,
 * not cut short. Per such phase: the step that ended, and what comes next.
 */
export const CONVERSION_PAUSES: Readonly<Record<string, { after: string; next: string }>> = {
  prepped: { after: 'prep', next: 'backfill' },
  backfilled: { after: 'backfill', next: 'fill' },
  filled: { after: 'fill', next: 'fill again to catch up, then swap' },
  swapped: { after: 'swap', next: 'verify, then cleanup (or unswap to go back)' },
  verified: { after: 'verify', next: 'cleanup (or unswap to go back)' },
  'verify-failed': {
    after: 'verify',
    next: 'do not clean up: verify found differences; look at what it reported, then verify again or unswap',
  },
  unswapped: { after: 'unswap', next: 'fill and swap again, or abandon' },
};

/** A recorded conversion, not running, whose last step ended. */
export function isPausedConversion(op: { operation: string; phase: string }): boolean {
  return op.operation === 'convert' && Object.hasOwn(CONVERSION_PAUSES, op.phase);
}

/**
 * How to take up a family's conversion: the CLI converts the built-in families and any family
 * the app's pgparts.config exports in `conversions`; code calls the convert functions.
 */
export function continueConversion(family: string): string {
  return (
    `continue it with pgparts convert ${family} --all (a family of your own once ` +
    'pgparts.config exports it in `conversions`) or the convert functions from code ' +
    '(convertFill ... convertCleanup)'
  );
}
