import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest (their own servers, subprocesses, writers under locks, large
 * fixtures), longest first. Workers take files from one queue in this order: a run that starts
 * them last ends with one of them running alone while the other cores idle. A run without
 * vitest's results cache (a fresh clone, CI) would otherwise order by file size.
 */
const LONGEST_FIRST = [
  'test/packaging/packed-install.test.ts',
  'test/crash/convert-crash.test.ts',
  'test/crash/drain-retire-crash.test.ts',
  'test/app/app-workflow.test.ts',
  'test/cli/connection-loss.test.ts',
  'test/migrations/own-online-indexes.test.ts',
  'test/leaderboard/queries.test.ts',
  'test/killmails/queries-feed.test.ts',
  'test/drivers/queries.test.ts',
  'test/drivers/migrate.test.ts',
  'test/drivers/drain-retention.test.ts',
  'test/locks/drain-retire-under-writers.test.ts',
  'test/locks/create-under-writers.test.ts',
  'test/drivers/convert.test.ts',
  'test/cli/examples.test.ts',
  'test/cli/cli.test.ts',
  'test/locks/statement-timeout.test.ts',
  'test/harness/leftover-server.test.ts',
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
