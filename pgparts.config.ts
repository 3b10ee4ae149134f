import { builtInExtensions, builtInFamilies, builtInObjects } from './src/domains/presets.js';

/**
 * The package's own pgparts.config: `npm run db:generate` (pgparts generate) writes drizzle/ from
 * it and drizzle.config.ts, through the same generator any app uses.
 */
export const families = builtInFamilies;
export const extensions = builtInExtensions;
export const objects = builtInObjects();
