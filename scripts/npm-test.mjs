/**
 * `npm test`: the type check, the lint and the dependency rules run while the vitest suite runs,
 * instead of before it. tsc uses one core for about ten seconds, and the suite's first seconds
 * (starting its server, migrating its template) leave the other idle. Their output is printed
 * as each one ends; the suite's is printed as it runs. Exits 1 if any of the four failed.
 */
import { spawn } from 'node:child_process';

const checks = ['typecheck', 'lint', 'deps'];

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

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const results = await Promise.all([
  ...checks.map(async (name) => {
    const result = await run(npm, ['run', '--silent', name], true);
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
