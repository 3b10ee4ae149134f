/**
 * `npm test`: the type check, the lint and the dependency rules run while the vitest suite runs,
 * instead of before it. tsc uses one core for about ten seconds, and the suite's first seconds
 * (starting its server, migrating its template) leave the other idle. Their output is printed
 * as each one ends; the suite's is printed as it runs. Exits 1 if any of the four failed.
 */
import { spawn } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * The type check is `npm run typecheck` made incremental: tsc keeps what it learnt in
 * .pgparts/typecheck.tsbuildinfo (ignored by git) and checks again only what changed since.
 * Measured on the 2-core test machine: 27 CPU-s for a check from nothing, 7.6 with the file
 * when nothing changed, 8.6 after an edit to src/index.ts; the same errors either way. A fresh
 * clone's first run checks everything, as before.
 */
const checks = [
  {
    name: 'typecheck',
    command: npm,
    args: [
      'exec',
      '--',
      'tsc',
      '-p',
      'tsconfig.json',
      '--incremental',
      '--tsBuildInfoFile',
      '.pgparts/typecheck.tsbuildinfo',
    ],
  },
  { name: 'lint', command: npm, args: ['run', '--silent', 'lint'] },
  { name: 'deps', command: npm, args: ['run', '--silent', 'deps'] },
];

/** Runs `command`; resolves to its exit code, with its output kept when `quiet`. */
function run(command, args, quiet) {
  return new Promise((done) => {
    const child = spawn(command, args, { stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    let output = '';
    if (quiet) {
      child.stdout.on('data', (chunk) => {
        output += chunk;
      });
      child.stderr.on('data', (chunk) => {
        output += chunk;
      });
    }
    child.on('error', (error) => done({ code: 1, output: `${output}${error.message}\n` }));
    child.on('close', (code, signal) => done({ code: code ?? (signal ? 1 : 0), output }));
  });
}

const results = await Promise.all([
  ...checks.map(async ({ name, command, args }) => {
    const result = await run(command, args, true);
    process.stdout.write(
      `\n> npm run ${name}: ${result.code === 0 ? 'ok' : `FAILED (exit ${result.code})`}\n${result.output}`,
    );
    return { name, code: result.code };
  }),
  run(npm, ['exec', '--', 'vitest', 'run', ...process.argv.slice(2)], false).then((r) => ({
    name: 'vitest run',
    code: r.code,
  })),
]);

const failed = results.filter((r) => r.code !== 0).map((r) => r.name);
process.stdout.write(
  failed.length === 0
    ? `\nnpm test: ${results.map((r) => r.name).join(', ')} passed\n`
    : `\nnpm test: FAILED: ${failed.join(', ')}\n`,
);
process.exitCode = failed.length === 0 ? 0 : 1;
