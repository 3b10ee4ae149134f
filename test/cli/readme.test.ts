import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { REPO_ROOT } from './run-cli.js';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

/** The text of a README section, from its heading to the next heading of its level or above. */
function section(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  expect(start, heading).toBeGreaterThan(-1);
  const level = heading.split(' ')[0] ?? '##';
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{2,${level.length}} `));
  return end < 0 ? rest : rest.slice(0, end);
}

const program = buildProgram();
const command = (name: string) => program.commands.find((c) => c.name() === name);

describe('the README says what the CLI and the first snippet do', () => {
  it('"Using it in an app": its first snippet ends its client, its command list is --help\'s', () => {
    const app = section('## Using it in an app');
    const snippet = /```ts\n([\s\S]*?)```/.exec(app)?.[1] ?? '';
    // Without it, the snippet run as a script never exits (the postgres.js pool stays open).
    const client = /const (\w+) = postgres\(/.exec(snippet)?.[1];
    expect(client).toBeDefined();
    expect(snippet.trimEnd().split('\n').at(-1)).toMatch(
      // With a timeout: after a lost connection postgres.js 3.4's end() without one never returns.
      new RegExp(`^await ${client}\\.end\\(\\{ timeout: \\d+ \\}\\)`),
    );
    const listed = /`npx pgparts --help`: ([^)]*)\)/.exec(app)?.[1] ?? '';
    const named = [...listed.matchAll(/`(\w+)`/g)].map((m) => m[1]);
    expect(named).toEqual(program.commands.map((c) => c.name()));
  });

  it('reattach has a --dry-run, and the README says so', () => {
    const reattach = command('reattach');
    expect(reattach?.options.some((o) => o.long === '--dry-run')).toBe(true);
    expect(section('### Retention and archival')).toContain('`reattach --dry-run`');
  });

  it('RANGE on a timestamp or date column, and the CLI without a clock option, are explained', () => {
    for (const name of ['status', 'plan', 'apply']) {
      const flags = command(name)?.options.map((o) => o.long) ?? [];
      expect(flags.filter((f) => /now|clock|time$|^--at$/.test(f ?? ''))).toEqual([]);
    }
    const tables = section('## Your own tables');
    expect(tables).toMatch(
      /A `timestamp` \(without time zone\) or `date` column is cut\s+by its own wall time/,
    );
    expect(tables).toMatch(/What\s+is \*current\* follows the UTC clock/);
    expect(tables).toMatch(/The CLI has no clock option/);
  });
});
