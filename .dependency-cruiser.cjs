/**
 * The layering of src/ (docs/architecture.md), checked by `npm run deps` inside `npm test`.
 * Type-only imports count too: a pure layer should not even know an effectful module's types.
 */
const ENGINE = '^src/(define|sql|catalog|plan|run|ops|migrations|query)/|^src/(index|errors)\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle makes load order matter and hides which module owns a concept.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'engine-not-domains',
      severity: 'error',
      comment:
        'The engine serves any app; the built-in domains are its users, through the public path.',
      from: { path: ENGINE },
      to: { path: '^src/domains/' },
    },
    {
      name: 'cli-only-presets',
      severity: 'error',
      comment: 'The CLI knows the domains only as presets (its default families and targets).',
      from: { path: '^src/cli/' },
      to: { path: '^src/domains/', pathNot: '^src/domains/presets\\.ts$' },
    },
    {
      name: 'define-is-pure',
      severity: 'error',
      comment: 'Specs, bounds, intervals and naming: no SQL execution, no catalog, no effects.',
      from: { path: '^src/define/' },
      to: { path: '^src/', pathNot: '^src/define/|^src/sql/identifiers\\.ts$|^src/errors\\.ts$' },
    },
    {
      name: 'sql-builds-text-only',
      severity: 'error',
      comment: 'Statement builders render SQL; they never run it.',
      from: { path: '^src/sql/' },
      to: { path: '^src/', pathNot: '^src/(define|sql)/|^src/errors\\.ts$' },
    },
    {
      name: 'plan-is-pure',
      severity: 'error',
      comment: 'The planner maps specs + a snapshot + a clock to steps; it reads nothing itself.',
      from: { path: '^src/plan/' },
      to: {
        path: '^src/',
        pathNot:
          '^src/(define|sql|plan)/|^src/catalog/(snapshot|anomalies)\\.ts$|^src/errors\\.ts$',
      },
    },
    {
      name: 'src-not-outside',
      severity: 'error',
      comment: 'The package never imports its tests, benchmark, examples or scripts.',
      from: { path: '^src/' },
      to: { path: '^(test|bench|examples|scripts)/' },
    },
    {
      name: 'src-no-dev-dependencies',
      severity: 'error',
      comment: 'What src/ imports must be installed for the app: dependencies or peers only.',
      from: { path: '^src/' },
      // tsx is loaded only when a .ts config is given, with a clear error when it is missing.
      to: {
        dependencyTypes: ['npm-dev'],
        dependencyTypesNot: ['npm-peer'],
        pathNot: 'node_modules/tsx/',
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'types'] },
  },
};
