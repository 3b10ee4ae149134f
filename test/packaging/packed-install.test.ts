import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/test-database.js';

/**
 * The package as an app gets it: `npm pack` (which builds), installed from the tarball into a
 * fresh app folder next to drizzle-orm, drizzle-kit and postgres, then used from that folder by
 * drizzle-kit and by the `pgparts` bin. Builds and installs once for the whole file.
 */
const root = resolve(import.meta.dirname, '..', '..');
const repoPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const scratch = mkdtempSync(join(tmpdir(), 'pgparts-pack-'));
const appDir = join(scratch, 'app');
const db = useTestDatabase({ migrated: false });

function run(command: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(command, args, {
    cwd: appDir,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 600_000,
  });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}
const bin = (name: string) => join(appDir, 'node_modules', '.bin', name);

beforeAll(() => {
  const pack = spawnSync('npm', ['pack', '--pack-destination', scratch], {
    cwd: root,
    encoding: 'utf8',
  });
  if (pack.status !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
  const tarball = readdirSync(scratch).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack wrote no tarball');
  const migrations = join(root, 'examples', 'app', 'drizzle');
  cpSync(join(root, 'examples', 'app'), appDir, {
    recursive: true,
    filter: (src) =>
      !src.includes('node_modules') && src !== migrations && !src.startsWith(`${migrations}/`),
  });
  const manifest = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8'));
  manifest.dependencies.pgparts = `file:${join(scratch, tarball)}`;
  for (const dep of ['drizzle-orm', 'postgres']) {
    manifest.dependencies[dep] = repoPackage.devDependencies[dep];
  }
  manifest.devDependencies['drizzle-kit'] = repoPackage.devDependencies['drizzle-kit'];
  writeFileSync(join(appDir, 'package.json'), JSON.stringify(manifest, null, 2));
  const install = run('npm', [
    'install',
    '--no-audit',
    '--no-fund',
    '--prefer-offline',
    '--ignore-scripts',
  ]);
  if (install.code !== 0) throw new Error(`npm install failed:\n${install.out}`);
}, 600_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the packed package in an app', { timeout: 300_000 }, () => {
  it('loads every entry point through require() and import', () => {
    for (const entry of [
      'pgparts',
      'pgparts/schema',
      'pgparts/leaderboard',
      'pgparts/killmails',
      'pgparts/presets',
    ]) {
      const required = run('node', ['-e', `require(${JSON.stringify(entry)})`]);
      expect(required, entry).toMatchObject({ code: 0 });
      const imported = run('node', [
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(entry)})`,
      ]);
      expect(imported, entry).toMatchObject({ code: 0 });
    }
  });

  it('drizzle-kit generate loads pgparts/schema from an app schema', () => {
    writeFileSync(join(appDir, 'builtins.ts'), "export * from 'pgparts/schema';\n");
    writeFileSync(
      join(appDir, 'builtins.config.ts'),
      "export default { dialect: 'postgresql', schema: './builtins.ts', out: './builtins-out' };\n",
    );
    const result = run(bin('drizzle-kit'), ['generate', '--config', 'builtins.config.ts']);
    expect(result.code).toBe(0);
    expect(result.out).toContain('Your SQL migration file');
    const [file] = readdirSync(join(appDir, 'builtins-out')).filter((f) => f.endsWith('.sql'));
    expect(readFileSync(join(appDir, 'builtins-out', file ?? ''), 'utf8')).toContain(
      'CREATE TABLE "leaderboard_run"',
    );
  });

  it('pgparts generate writes the migrations, and a second run writes nothing', () => {
    const first = run(bin('pgparts'), ['generate', '--config', 'pgparts.config.ts']);
    expect(first.out).toMatch(/wrote \d{4}_\w+\.sql, \d{4}_partitions\.sql/);
    expect(first.code).toBe(0);
    const second = run(bin('pgparts'), ['generate', '--config', 'pgparts.config.ts']);
    expect(second).toMatchObject({ code: 0 });
    expect(second.out).toContain('nothing to write');
    const check = run(bin('pgparts'), ['generate', '--config', 'pgparts.config.ts', '--check']);
    expect(check.code).toBe(0);
  });

  it('pgparts generate fails loudly when drizzle-kit cannot load the schema', () => {
    const schema = join(appDir, 'src', 'schema.ts');
    const text = readFileSync(schema, 'utf8');
    writeFileSync(schema, `${text}\nimport './missing-module';\n`);
    try {
      const broken = run(bin('pgparts'), ['generate', '--config', 'pgparts.config.ts']);
      expect(broken.code).not.toBe(0);
    } finally {
      writeFileSync(schema, text);
    }
  });

  it('pgparts migrate applies the app folder, then finds nothing pending', () => {
    const env = { DATABASE_URL: db.url };
    const first = run(bin('pgparts'), ['migrate', '--config', 'pgparts.config.ts'], env);
    expect(first.out).toMatch(/applied app \d{4}_partitions \(\d+ ms\)/);
    expect(first.code).toBe(0);
    const second = run(bin('pgparts'), ['migrate', '--config', 'pgparts.config.ts'], env);
    expect(second.out).toContain('nothing pending');
  });

  it("the tablesFilter keeps drizzle-kit pull away from pgparts's tables", () => {
    writeFileSync(
      join(appDir, 'pull.config.ts'),
      "import base from './drizzle.config';\nexport default { ...base, out: './pulled' };\n",
    );
    const pulled = run(bin('drizzle-kit'), ['pull', '--config', 'pull.config.ts'], {
      DATABASE_URL: db.url,
    });
    expect(pulled.code).toBe(0);
    const schema = readFileSync(join(appDir, 'pulled', 'schema.ts'), 'utf8');
    expect(schema).toContain('pgTable("accounts"');
    // No parent and no partition is pulled as a table (the bigserial columns' sequences are
    // listed apart from tables, and tablesFilter does not apply to them).
    expect(schema).not.toMatch(/pgTable\("(app_events|region_orders)/);
    expect(schema.match(/pgTable\(/g)).toHaveLength(1);
  });
});
