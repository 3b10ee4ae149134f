export * from './character-runs.js';
export * from './run-with-members.js';
export * from './top-runs.js';
export * from './top-runs-from-views.js';
export * from './trim-runs.js';
