import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest (their own servers, subprocesses, writers under locks, large
 * fixtures, drizzle-kit launches, PGlite), longest first, as measured in a whole run (the JSON
 * reporter's file durations). Workers take files from one queue in this order: a run that starts
 * them last ends with one of them running alone while the other cores idle. A run without
 * vitest's results cache (a fresh clone, CI) would otherwise order by file size. One driver file
 * comes early and the others after a few more files: the first PGlite file builds the run's
 * PGlite images while the other workers wait for them (test/support/pglite-images.ts), so the
 * driver files should not all start at once.
 */
const LONGEST_FIRST = [
  'test/packaging/packed-install.test.ts',
  'test/crash/convert-crash.test.ts',
  'test/crash/drain-retire-crash.test.ts',
  // The longest of all (52 s of a whole run; most of it in its ten drizzle-kit launches).
  'test/app/generate-refusals.test.ts',
  'test/app/app-workflow.test.ts',
  'test/drivers/queries.test.ts',
  'test/migrations/own-online-indexes.test.ts',
  'test/cli/cli.test.ts',
  'test/cli/connection-loss.test.ts',
  'test/drivers/drain-retention.test.ts',
  'test/drivers/migrate.test.ts',
  'test/app/committed-migrations.test.ts',
  'test/app/snapshot-prefixes.test.ts',
  'test/convert/verify-corrupted.test.ts',
  'test/drivers/convert.test.ts',
  'test/drivers/capabilities.test.ts',
  'test/drivers/maintain.test.ts',
  'test/leaderboard/queries.test.ts',
  'test/drivers/routing.test.ts',
  'test/cli/examples.test.ts',
  'test/locks/drain-retire-under-writers.test.ts',
  'test/drain/drain-concurrent.test.ts',
  'test/drain/drain-interrupted.test.ts',
  'test/locks/session-settings.test.ts',
  'test/locks/create-under-writers.test.ts',
  'test/harness/leftover-server.test.ts',
  'test/locks/statement-timeout.test.ts',
  'test/killmails/queries-names.test.ts',
];

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const index = LONGEST_FIRST.findIndex((path) => spec.moduleId.endsWith(path));
      return index === -1 ? LONGEST_FIRST.length : index;
    };
    // Stable: the other files keep the base order (vitest's cached durations, else file size).
    return sorted
      .map((spec, position) => ({ spec, position, rank: rank(spec) }))
      .sort((a, b) => a.rank - b.rank || a.position - b.position)
      .map(({ spec }) => spec);
  }
}
