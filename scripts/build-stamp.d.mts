/** True when dist/ is what `npm run build` wrote from the sources as they are now. */
export function distIsFresh(): boolean;
