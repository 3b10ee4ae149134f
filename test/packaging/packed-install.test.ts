import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distIsFresh } from '../../scripts/build-stamp.mjs';
import { MIGRATION_LOCK_KEY } from '../../src/migrations/runner.js';
import { catalogShape } from '../support/catalog-shape.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * The package as an app gets it: `npm pack` (which builds, unless dist/ is provably fresh),
 * installed from the tarball into a fresh app folder next to drizzle-orm, drizzle-kit and
 * postgres, then used from that folder by drizzle-kit and by the `pgparts` bin. Packs and installs
 * once for the whole file.
 */
const root = resolve(import.meta.dirname, '..', '..');
const repoPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const scratch = mkdtempSync(join(tmpdir(), 'pgparts-pack-'));
const appDir = join(scratch, 'app');
const db = useTestDatabase({ migrated: false });
/** Migrated by two `pgparts migrate` processes at once. */
const raced = useTestDatabase({ migrated: false });
/** Migrated and maintained by an app on node-postgres. */
const viaPg = useTestDatabase({ migrated: false });
const viaPgOptions = useTestDatabase({ migrated: false });
/** Migrated by `pgparts migrate` with drizzle-kit not installed. */
const bare = useTestDatabase({ migrated: false });
/** Holds an app's unpartitioned table that `pgparts convert` partitions. */
const converted = useTestDatabase({ migrated: false });

function run(command: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(command, args, {
    cwd: appDir,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 600_000,
  });
  return { code: result.status, out: `${result.stdout}${result.stderr}`, stdout: result.stdout };
}
const bin = (name: string) => join(appDir, 'node_modules', '.bin', name);

/** The same as `run`, as a child process running alongside the test. */
function start(command: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; out: string }>((done, fail) => {
    const child = spawn(command, args, {
      cwd: appDir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      out += chunk;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, out }));
  });
}

beforeAll(() => {
  // `npm pack` runs `prepare`, a whole build. When dist/ is provably what that build would write
  // (scripts/build-stamp.mjs: the sources and dist/ match the last build's stamp; `npm ci` in a
  // fresh clone leaves one), the same tarball comes without building again.
  const skipBuild = distIsFresh() ? ['--ignore-scripts'] : [];
  const pack = spawnSync('npm', ['pack', '--pack-destination', scratch, ...skipBuild], {
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
  // The app's drivers: postgres.js, and the two others an app may use instead.
  for (const dep of ['drizzle-orm', 'postgres', 'pg', '@electric-sql/pglite']) {
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

/** Adds an index (Drizzle's `index(...)` call) to the app's partitioned app_events. */
function addEventsIndex(index: string): void {
  const schema = join(appDir, 'src', 'schema.ts');
  const existing = "    index('app_events_account_idx').on(t.accountId, t.occurredAt),";
  const text = readFileSync(schema, 'utf8');
  if (!text.includes(existing)) throw new Error('app_events has no account index to add after');
  writeFileSync(schema, text.replace(existing, `${existing}\n    ${index},`));
}

describe('the packed package in an app', { timeout: 300_000 }, () => {
  it('loads every entry point through require() and import', () => {
    const entries = [
      'pgparts',
      'pgparts/schema',
      'pgparts/leaderboard',
      'pgparts/killmails',
      'pgparts/presets',
    ];
    const all = Object.fromEntries(entries.map((entry) => [entry, 'loaded']));
    // One process per way of loading, each entry tried on its own: what failed, and why.
    const outcome = (load: string) =>
      `const out = {}; for (const entry of ${JSON.stringify(entries)}) { ` +
      `try { ${load}; out[entry] = 'loaded'; } catch (error) { out[entry] = String(error); } } ` +
      'process.stdout.write(JSON.stringify(out));';
    const required = run('node', ['-e', outcome('require(entry)')]);
    expect(required.code, required.out).toBe(0);
    expect(JSON.parse(required.stdout)).toEqual(all);
    const imported = run('node', ['--input-type=module', '-e', outcome('await import(entry)')]);
    expect(imported.code, imported.out).toBe(0);
    expect(JSON.parse(imported.stdout)).toEqual(all);
    // The installed package carries its CHANGELOG (what an upgrade changes; README points to it).
    expect(existsSync(join(appDir, 'node_modules', 'pgparts', 'CHANGELOG.md'))).toBe(true);
    // The bundled binary finds the package's own files from a chunk: its package.json.
    const installed = JSON.parse(
      readFileSync(join(appDir, 'node_modules', 'pgparts', 'package.json'), 'utf8'),
    ) as { version: string };
    const version = run(bin('pgparts'), ['--version']);
    expect(version.code, version.out).toBe(0);
    expect(version.stdout.trim()).toBe(installed.version);
  });

  it("its declarations type an app's code: the API, a subpath's query rows, wrong inputs refused (tsc, strict, NodeNext)", () => {
    // Every @ts-expect-error must meet an error: were a declaration lost to `any`, tsc would
    // report the directive unused and fail.
    writeFileSync(
      join(appDir, 'typed.ts'),
      `import { drizzle } from 'drizzle-orm/postgres-js';
import { bigint, pgTable, primaryKey, timestamp } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { type ApplyResult, maintain, partitionFamily } from 'pgparts';
import { latestKillmails } from 'pgparts/killmails';

const events = pgTable(
  'typed_events',
  {
    id: bigint('id', { mode: 'number' }).notNull(),
    at: timestamp('at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.id, t.at] })],
);
const db = drizzle(postgres('postgres://nobody@localhost/none'));
const family = partitionFamily({
  name: 'typed_events',
  tables: [events],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1, past: 1 },
  defaultPartition: true,
});
export async function typed(): Promise<number> {
  const result: ApplyResult = await maintain(db, { families: [family] });
  const rows = await latestKillmails(db, { limit: 10 });
  const id: number = rows[0]?.killmailId ?? 0;
  // @ts-expect-error: a killmail's id is a number
  const text: string = rows[0]?.killmailId ?? '';
  // @ts-expect-error: limit takes a number
  await latestKillmails(db, { limit: 'ten' });
  // @ts-expect-error: maintain takes no such option
  await maintain(db, { families: [family], dryRunPlease: true });
  return result.done + id + text.length;
}
`,
    );
    writeFileSync(
      join(appDir, 'tsconfig.typed.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          // drizzle-orm's own declarations do not check without every driver's types installed.
          skipLibCheck: true,
          types: [],
        },
        files: ['typed.ts'],
      }),
    );
    const checked = run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.typed.json']);
    expect(checked.code, checked.out).toBe(0);
    expect(checked.out).toBe('');
  });

  it('ships every doc its messages and README name', () => {
    // Refusals and plan reasons cite docs/<file>.md#<why>: an app that installed the package
    // finds each beside its README.
    const installed = join(appDir, 'node_modules', 'pgparts');
    const cited = new Set<string>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.js') || entry.name === 'README.md')
          for (const m of readFileSync(path, 'utf8').matchAll(/docs\/([a-z-]+\.md)/g))
            cited.add(m[1] as string);
      }
    };
    walk(installed);
    expect(cited.size).toBeGreaterThan(3);
    const missing = [...cited].filter((doc) => !existsSync(join(installed, 'docs', doc)));
    expect(missing).toEqual([]);
  });

  it('its source maps carry the TypeScript they map to (src/ is not in the package)', () => {
    const dist = join(appDir, 'node_modules', 'pgparts', 'dist');
    expect(existsSync(join(appDir, 'node_modules', 'pgparts', 'src'))).toBe(false);
    const files = readdirSync(dist, { recursive: true, encoding: 'utf8' });
    const scripts = files.filter((f) => f.endsWith('.js'));
    const maps = files.filter((f) => f.endsWith('.js.map'));
    // The build bundles src/ into its entry points and shared chunks: every file has its map.
    expect(maps.sort()).toEqual(scripts.map((f) => `${f}.map`).sort());
    const sources = new Set<string>();
    const without = maps.filter((file) => {
      const map = JSON.parse(readFileSync(join(dist, file), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      for (const source of map.sources) sources.add(source.replace(/^(\.\.\/)+/, ''));
      return !(
        map.sourcesContent?.length === map.sources.length &&
        map.sourcesContent.every((text) => typeof text === 'string' && text.length > 0)
      );
    });
    expect(without).toEqual([]);
    // Between them, the maps cover the package's TypeScript: the CLI, the engine, the domains.
    expect(sources).toContain('src/cli/index.ts');
    expect(sources).toContain('src/run/maintain.ts');
    expect(sources).toContain('src/domains/killmails/queries/latest-killmails.ts');
    expect(sources.size).toBeGreaterThan(150);
  });

  it("node-postgres and PGlite: the built-in families migrated, kept by maintain(), queried, as the README's driver section shows", () => {
    // One script per driver, run by the app's node: the built-in leaderboard and killmail
    // families migrated, maintained twice (the second run finds nothing to do), a killmail of
    // now written through Drizzle (a partition takes it) and read back by a hot path.
    const body = `
import { migrate, maintain } from 'pgparts';
import { builtInFamilies } from 'pgparts/presets';
import { killmailsRaw, latestKillmails } from 'pgparts/killmails';
const first = await migrate(db);
const kept = await maintain(db, { families: builtInFamilies });
const again = await maintain(db, { families: builtInFamilies });
const at = new Date();
await db.insert(killmailsRaw).values({ killmailId: 7, killmailTime: at, systemId: 30000142,
  shipTypeId: 587, rawPayload: { from: 'app' } });
const latest = await latestKillmails(db, { limit: 5 });
console.log(JSON.stringify({ applied: first.applied.length, ok: kept.ok && again.ok,
  failed: kept.failed, left: again.plan.steps.length,
  latest: latest.map((k) => k.killmailId) }));
await close();
`;
    const scripts = {
      'node-postgres': `import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const db = drizzle(pool);
const close = () => pool.end();`,
      pglite: `import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { drizzle } from 'drizzle-orm/pglite';
const client = await PGlite.create({ extensions: { pg_trgm } });
const db = drizzle(client);
const close = () => client.close();`,
    };
    for (const [driver, open] of Object.entries(scripts)) {
      const file = join(appDir, `${driver}.mjs`);
      writeFileSync(file, `${open}\n${body}`);
      const ran = run('node', [file], { DATABASE_URL: viaPg.url });
      expect(ran.code, `${driver}: ${ran.out}`).toBe(0);
      const result = JSON.parse(ran.stdout.trim().split('\n').at(-1) ?? '{}');
      expect(result, driver).toMatchObject({ ok: true, failed: 0, left: 0, latest: [7] });
      expect(result.applied, driver).toBeGreaterThan(0);
    }
  });

  it('postgres.js clients as apps make them: fetch_types: false runs maintain as its first work; a camelCasing transform is refused before anything runs', () => {
    const file = join(appDir, 'client-options.mjs');
    writeFileSync(
      file,
      `import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import { isPgpartsError, maintain, migrate } from 'pgparts';
import { builtInFamilies } from 'pgparts/presets';
const url = process.env.DATABASE_URL;
const within = (p) => Promise.race([p, new Promise((_, no) =>
  setTimeout(() => no(new Error('still waiting after 20 s')), 20_000).unref())]);
const setup = postgres(url, { onnotice: () => {} });
await migrate(drizzle(setup));
await setup.end({ timeout: 5 });
const lean = postgres(url, { fetch_types: false, onnotice: () => {} });
const kept = await within(maintain(drizzle(lean), { families: builtInFamilies }));
await lean.end({ timeout: 5 });
const camel = postgres(url, { transform: postgres.camel, onnotice: () => {} });
const refused = await maintain(drizzle(camel), { families: builtInFamilies }).then(
  () => 'ran', (e) => (isPgpartsError(e, 'unsupported-driver') ? e.message : String(e)));
await camel.end({ timeout: 5 });
console.log(JSON.stringify({ kept: kept.ok, refused }));
`,
    );
    const ran = run('node', [file], { DATABASE_URL: viaPgOptions.url });
    expect(ran.code, ran.out).toBe(0);
    const result = JSON.parse(ran.stdout.trim().split('\n').at(-1) ?? '{}');
    expect(result.kept).toBe(true);
    expect(result.refused).toMatch(
      /^pgparts: maintain: the database's postgres\.js client changes what it returns/,
    );
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

  it("pgparts migrate applies the app folder, then finds nothing pending; without --config it reads the folder's pgparts.config.ts", () => {
    const env = { DATABASE_URL: db.url };
    const first = run(bin('pgparts'), ['migrate', '--config', 'pgparts.config.ts'], env);
    expect(first.out).toMatch(/applied app \d{4}_partitions \(\d+ ms\)/);
    expect(first.code).toBe(0);
    // Without --config, the app's config (as generate reads it), not pgparts's own tables: those
    // would show as `applied pgparts 0000_...`.
    const second = run(bin('pgparts'), ['migrate'], env);
    expect(second.out).toContain('nothing pending');
    expect(second.out).not.toContain('applied');
    expect(second.code).toBe(0);
  });

  it('pgparts migrate without drizzle-kit installed (an image built with npm ci --omit=dev) reads drizzle.config all the same', () => {
    const kit = join(appDir, 'node_modules', 'drizzle-kit');
    const hidden = join(scratch, 'drizzle-kit-hidden');
    renameSync(kit, hidden);
    try {
      const env = { DATABASE_URL: bare.url };
      const migrated = run(bin('pgparts'), ['migrate', '--config', 'pgparts.config.ts'], env);
      expect(migrated, migrated.out).toMatchObject({ code: 0 });
      expect(migrated.out).toMatch(/applied app \d{4}_partitions \(\d+ ms\)/);
    } finally {
      renameSync(hidden, kit);
    }
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

  it('two pgparts migrate processes started at once apply each migration once', async () => {
    const env = { DATABASE_URL: raced.url };
    const [k1, k2] = MIGRATION_LOCK_KEY;
    // The test holds the migration lock until both processes wait for it (each has tried it:
    // a waiter tries it again and again, no statement left waiting), so they really start their
    // migrations together.
    const holder = raced.connect({ max: 1 });
    await holder`SELECT pg_advisory_lock(${k1}::int4, ${k2}::int4)`;
    const runs = [0, 1].map(() =>
      start(bin('pgparts'), ['migrate', '--config', 'pgparts.config.ts'], env),
    );
    let waiting = 0;
    for (let i = 0; i < 1200 && waiting < 2; i++) {
      const [row] = await holder<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND query LIKE 'SELECT pg_try_advisory_lock(%'`;
      waiting = row?.n ?? 0;
      if (waiting < 2) await new Promise((r) => setTimeout(r, 50));
    }
    expect(waiting).toBe(2);
    await holder`SELECT pg_advisory_unlock(${k1}::int4, ${k2}::int4)`;
    const results = await Promise.all(runs);
    await holder.end();
    for (const result of results) expect(result, result.out).toMatchObject({ code: 0 });
    const tags = readdirSync(join(appDir, 'drizzle')).filter((f) => f.endsWith('.sql'));
    const applied = results.flatMap((r) =>
      [...r.out.matchAll(/applied app (\S+) \(/g)].map((m) => m[1]),
    );
    expect(applied.sort()).toEqual(tags.map((f) => f.replace(/\.sql$/, '')).sort());
    expect(results.filter((r) => r.out.includes('nothing pending'))).toHaveLength(1);
    const rows = await raced.sql<{ n: number; hashes: number }[]>`
      SELECT count(*)::int AS n, count(DISTINCT hash)::int AS hashes FROM drizzle.__drizzle_migrations`;
    expect(rows[0]).toEqual({ n: tags.length, hashes: tags.length });
  });

  it('drizzle-kit push with the tablesFilter does not touch partitions, parents or their rows', async () => {
    const env = { DATABASE_URL: db.url };
    expect(run(bin('pgparts'), ['apply', '--config', 'pgparts.config.ts', '--yes'], env).code).toBe(
      0,
    );
    await db.sql`
      INSERT INTO app_events ("occurredAt", "accountId", kind)
      SELECT now() - (i || ' hours')::interval, i, 'login' FROM generate_series(0, 47) i`;
    await db.sql`INSERT INTO region_orders (region, "totalCents") VALUES ('eu-west', 1), ('mars', 2)`;
    const digests = async () => ({
      events: await tableDigest(db.sql, 'app_events', ['id', 'occurredAt']),
      orders: await tableDigest(db.sql, 'region_orders', ['region', 'id']),
    });
    const before = { catalog: await catalogShape(db.connect({ max: 1 })), rows: await digests() };

    // A change push would make: a column on the plain table.
    const schema = join(appDir, 'src', 'schema.ts');
    const text = readFileSync(schema, 'utf8');
    writeFileSync(
      schema,
      text.replace(
        "displayName: text('displayName').notNull(),",
        "displayName: text('displayName').notNull(),\n  email: text('email'),",
      ),
    );
    try {
      const pushed = run(bin('drizzle-kit'), ['push', '--force', '--verbose'], env);
      // drizzle-kit never reads partitioned parents (it lists plain tables only), so it proposes
      // to create them, which the server refuses: push stops there, having changed nothing.
      // Without the filter it would also take every partition for a table of its own to drop.
      expect(pushed.out).toContain('relation "app_events" already exists');
      expect(pushed.out).not.toMatch(/DROP TABLE/);
    } finally {
      writeFileSync(schema, text);
    }
    expect({ catalog: await catalogShape(db.connect({ max: 1 })), rows: await digests() }).toEqual(
      before,
    );
    expect(before.rows.events.rows).toBe(48);
  });

  it('pgparts drain takes a value out of DEFAULT: the dry run prints its statements, the run keeps every row', async () => {
    const env = { DATABASE_URL: db.url };
    // 'mars' is no declared region: its row (the push test's) is in DEFAULT, and a drain may
    // take it out because a table holds a row for it.
    const before = await tableDigest(db.sql, 'region_orders', ['region', 'id']);
    const args = ['drain', 'region_orders', 'mars', '--config', 'pgparts.config.ts'];
    const dry = run(bin('pgparts'), [...args, '--dry-run'], env);
    expect(dry, dry.out).toMatchObject({ code: 0 });
    expect(dry.out).toContain('CREATE TABLE "public"."region_orders_mars"');
    const [staged] = await db.sql`SELECT to_regclass('region_orders_mars') AS t`;
    expect(staged?.t).toBeNull();
    const drained = run(bin('pgparts'), args, env);
    expect(drained, drained.out).toMatchObject({ code: 0 });
    expect(drained.out).toContain('region_orders_mars: 1 row moved');
    const [moved] = await db.sql`
      SELECT (SELECT count(*)::int FROM region_orders_mars) AS own,
             (SELECT count(*)::int FROM region_orders_default WHERE region = 'mars') AS left`;
    expect(moved).toEqual({ own: 1, left: 0 });
    expect(await tableDigest(db.sql, 'region_orders', ['region', 'id'])).toEqual(before);
  });

  it('a new index on a partitioned table: generate writes an online build, drizzle-kit migrate refuses it, pgparts migrate builds it', async () => {
    const env = { DATABASE_URL: db.url };
    addEventsIndex("index('app_events_kind_idx').on(t.kind)");
    const generated = run(bin('pgparts'), ['generate', '--config', 'pgparts.config.ts']);
    expect(generated, generated.out).toMatchObject({ code: 0 });
    const file = /wrote (\d{4}_\w+\.sql)$/m.exec(generated.out)?.[1] ?? '';
    expect(readFileSync(join(appDir, 'drizzle', file), 'utf8')).toMatch(
      /^-- pgparts:online\n[^\n]*\n-- pgparts:create-index-online \{"table":\{"schema":"public","name":"app_events"\},"name":"app_events_kind_idx"/,
    );

    // The file's guard stops drizzle-kit's migrator before anything changed (drizzle-kit 0.31
    // exits 1 without printing the server's message: "this migration builds indexes online;
    // run it with pgparts migrate").
    const recorded = async () =>
      (await db.sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`)[0]?.n;
    const recordedBefore = await recorded();
    const plain = run(bin('drizzle-kit'), ['migrate'], env);
    expect(plain.code).toBe(1);
    expect(await recorded()).toBe(recordedBefore);
    const [none] = await db.sql`SELECT to_regclass('app_events_kind_idx') AS i`;
    expect(none?.i).toBeNull();

    const migrated = run(bin('pgparts'), ['migrate', '--config', 'pgparts.config.ts'], env);
    expect(migrated, migrated.out).toMatchObject({ code: 0 });
    expect(migrated.out).toContain(`applied app ${file.replace(/\.sql$/, '')}`);
    const [parent] = await db.sql`
      SELECT x.indisvalid AS valid,
             (SELECT count(*)::int FROM pg_inherits WHERE inhparent = x.indexrelid) AS attached,
             (SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'app_events'::regclass) AS partitions
      FROM pg_index x WHERE x.indexrelid = 'app_events_kind_idx'::regclass`;
    expect(parent).toEqual({
      valid: true,
      attached: parent?.partitions,
      partitions: expect.any(Number),
    });
    expect(parent?.partitions).toBeGreaterThan(10);
  });

  it('a changed index on a partitioned table: generate writes a replacement without the DROP INDEX, pgparts migrate swaps it in', async () => {
    const env = { DATABASE_URL: db.url };
    const schema = join(appDir, 'src', 'schema.ts');
    const text = readFileSync(schema, 'utf8');
    const declared = "index('app_events_kind_idx').on(t.kind)";
    expect(text).toContain(declared);
    writeFileSync(
      schema,
      text.replace(declared, "index('app_events_kind_idx').on(t.kind, t.occurredAt)"),
    );
    const generated = run(bin('pgparts'), ['generate', '--config', 'pgparts.config.ts']);
    expect(generated, generated.out).toMatchObject({ code: 0 });
    const files = [...generated.out.matchAll(/wrote (\d{4}_\w+\.sql)$/gm)].map((m) => m[1] ?? '');
    expect(files).toHaveLength(1);
    const body = readFileSync(join(appDir, 'drizzle', files[0] ?? ''), 'utf8');
    expect(body).toMatch(
      /^-- pgparts:online\n[^\n]*\n-- pgparts:replace-index-online \{"table":\{"schema":"public","name":"app_events"\},"name":"app_events_kind_idx"/,
    );
    expect(body).not.toContain('DROP INDEX');
    expect(generated.out).toContain(
      `${files[0]}: app_events_kind_idx on public.app_events replaced online (built beside the old one, swapped in once complete)`,
    );
    const before = await tableDigest(db.sql, 'app_events', ['id', 'occurredAt']);

    // The dry run prints the replacement's statements, planned from the catalog, and changes nothing.
    const definition = async () =>
      (await db.sql`SELECT pg_get_indexdef('app_events_kind_idx'::regclass) AS d`)[0]?.d;
    const old = await definition();
    const dry = run(bin('pgparts'), ['migrate', '--config', 'pgparts.config.ts', '--dry-run'], env);
    expect(dry, dry.out).toMatchObject({ code: 0 });
    expect(dry.out).toContain('1 pending migration(s); nothing was changed');
    expect(dry.out).toContain(
      `app ${files[0]?.replace(/\.sql$/, '')}, online, outside any transaction (planned from the catalog now):`,
    );
    expect(dry.out).toMatch(
      /CREATE INDEX CONCURRENTLY IF NOT EXISTS "app_events_\w+_kind_idx_pgparts_new" ON "public"\."app_events_\w+" \("kind", "occurredAt"\);/,
    );
    expect(dry.out).toContain('BEGIN; DROP INDEX IF EXISTS "public"."app_events_kind_idx";');
    expect(await definition()).toBe(old);

    const migrated = run(bin('pgparts'), ['migrate', '--config', 'pgparts.config.ts'], env);
    expect(migrated, migrated.out).toMatchObject({ code: 0 });
    expect(migrated.out).toContain(`applied app ${files[0]?.replace(/\.sql$/, '')}`);
    // What it did as it went: the replacement, each partition's build, the swap.
    expect(migrated.out).toContain(
      'replacing app_events_kind_idx on public.app_events online (the new index built beside it, then swapped in)',
    );
    expect(migrated.out).toMatch(/ {2}app_events_kind_idx: app_events_\w+ \(1 of \d+\)/);
    expect(migrated.out).toContain('  app_events_kind_idx: complete, swapping it in');
    const [index] = await db.sql`
      SELECT pg_get_indexdef(x.indexrelid) AS def, x.indisvalid AS valid,
             (SELECT count(*)::int FROM pg_inherits WHERE inhparent = x.indexrelid) AS attached,
             (SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'app_events'::regclass) AS partitions,
             (SELECT count(*)::int FROM pg_class WHERE relname LIKE '%pgparts_new%') AS left_over
      FROM pg_index x WHERE x.indexrelid = 'app_events_kind_idx'::regclass`;
    expect(index).toEqual({
      def: expect.stringContaining('USING btree (kind, "occurredAt")'),
      valid: true,
      attached: index?.partitions,
      partitions: expect.any(Number),
      left_over: 0,
    });
    expect(await tableDigest(db.sql, 'app_events', ['id', 'occurredAt'])).toEqual(before);
  });

  it('a renamed index on a partitioned table: generate writes a rename, pgparts migrate renames it in place', async () => {
    const env = { DATABASE_URL: db.url };
    const schema = join(appDir, 'src', 'schema.ts');
    const declared = "index('app_events_kind_idx').on(t.kind, t.occurredAt)";
    const text = readFileSync(schema, 'utf8');
    expect(text).toContain(declared);
    writeFileSync(schema, text.replace(declared, declared.replace('kind_idx', 'by_kind')));
    const generated = run(bin('pgparts'), ['generate', '--config', 'pgparts.config.ts']);
    expect(generated, generated.out).toMatchObject({ code: 0 });
    const files = [...generated.out.matchAll(/wrote (\d{4}_\w+\.sql)$/gm)].map((m) => m[1] ?? '');
    expect(files).toHaveLength(1);
    const body = readFileSync(join(appDir, 'drizzle', files[0] ?? ''), 'utf8');
    expect(body).toContain(
      '-- pgparts:rename-index {"table":{"schema":"public","name":"app_events"},"from":"app_events_kind_idx","to":"app_events_by_kind"}',
    );
    expect(body).not.toMatch(/DROP INDEX|CREATE INDEX/);
    expect(generated.out).toContain(
      `${files[0]}: app_events_kind_idx on public.app_events renamed app_events_by_kind in place`,
    );
    const [before] = await db.sql`SELECT 'app_events_kind_idx'::regclass::oid::int8 AS oid`;
    const migrated = run(bin('pgparts'), ['migrate', '--config', 'pgparts.config.ts'], env);
    expect(migrated, migrated.out).toMatchObject({ code: 0 });
    expect(migrated.out).toContain(
      'renaming app_events_kind_idx on public.app_events to app_events_by_kind',
    );
    const [after] = await db.sql`
      SELECT to_regclass('app_events_by_kind')::oid::int8 AS oid,
             to_regclass('app_events_kind_idx') AS old`;
    expect(after).toEqual({ oid: before?.oid, old: null });
  });

  it("pgparts convert partitions an app's own table while the app moves rows to another author and deletes the old one", async () => {
    await converted.sql.unsafe(`
      CREATE TABLE memo_authors (id int PRIMARY KEY);
      INSERT INTO memo_authors SELECT generate_series(1, 4);
      CREATE TABLE memos (id bigint NOT NULL, tenant int NOT NULL,
                          author_id int REFERENCES memo_authors (id), body text,
                          PRIMARY KEY (id, tenant));
      INSERT INTO memos SELECT g, 1 + g % 2, 1 + g % 4, md5(g::text) FROM generate_series(1, 400) g;`);
    writeFileSync(
      join(appDir, 'convert.config.ts'),
      `import { bigint, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { conversionTarget, partitionFamily } from 'pgparts';
const memoAuthors = pgTable('memo_authors', { id: integer('id').primaryKey() });
const memos = pgTable('memos', {
  id: bigint('id', { mode: 'number' }).notNull(),
  tenant: integer('tenant').notNull(),
  authorId: integer('author_id').references(() => memoAuthors.id),
  body: text('body'),
}, (t) => [primaryKey({ columns: [t.id, t.tenant] })]);
const family = partitionFamily({ name: 'memos', tables: [memos],
  partitionBy: { strategy: 'list', column: 'tenant', values: [1, 2] } });
export const families = [family];
export const conversions = [conversionTarget({ family, tables: [memos] })];
`,
    );
    const env = { DATABASE_URL: converted.url };
    const step = (name: string) => {
      const result = run(
        bin('pgparts'),
        ['convert', 'memos', name, '--config', 'convert.config.ts'],
        env,
      );
      expect(result, result.out).toMatchObject({ code: 0 });
      return result.out;
    };
    for (const name of ['prep', 'backfill', 'fill']) step(name);
    // The partitioned copies name author 4 until a replay: the app's delete goes through anyway.
    await converted.sql.begin(async (tx) => {
      await tx`UPDATE memos SET author_id = 3 WHERE author_id = 4`;
      await tx`DELETE FROM memo_authors WHERE id = 4`;
    });
    const before = await tableDigest(converted.sql, 'memos', ['id', 'tenant']);
    expect(before.rows).toBe(400);
    expect(step('swap')).toMatch(/swap memos: tables locked for [\d.]+ ms/);
    expect(step('verify')).toContain('verify memos: OK');
    const [kind] = await converted.sql`SELECT relkind FROM pg_class WHERE oid = 'memos'::regclass`;
    expect(kind?.relkind).toBe('p');
    expect(await tableDigest(converted.sql, 'memos', ['id', 'tenant'])).toEqual(before);
  });

  // Last: it leaves drizzle-kit's own file in the folder, which `pgparts generate` would refuse.
  it("drizzle-kit's own file with a plain CREATE INDEX on a partitioned table holding rows: pgparts migrate refuses it, --allow-blocking-indexes builds it", async () => {
    const env = { DATABASE_URL: db.url };
    addEventsIndex("index('app_events_account_only_idx').on(t.accountId)");
    const kit = run(bin('drizzle-kit'), ['generate'], env);
    expect(kit, kit.out).toMatchObject({ code: 0 });
    const tag = /(\d{4}_\w+)\.sql/.exec(kit.out)?.[1] ?? '';
    expect(readFileSync(join(appDir, 'drizzle', `${tag}.sql`), 'utf8')).toContain(
      'CREATE INDEX "app_events_account_only_idx" ON "app_events"',
    );
    await db.sql`INSERT INTO app_events ("occurredAt", "accountId", kind) VALUES (now(), 1, 'k')`;
    const recorded = async () =>
      (await db.sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`)[0]?.n;
    const recordedBefore = await recorded();

    const refused = run(bin('pgparts'), ['migrate', '--config', 'pgparts.config.ts'], env);
    expect(refused.code, refused.out).toBe(1);
    expect(refused.out).toContain(
      'a pending migration builds an index on a partitioned table that holds data',
    );
    expect(refused.out).toContain(`app ${tag} (`);
    expect(refused.out).toContain('Nothing was applied.');
    expect(await recorded()).toBe(recordedBefore);
    const [none] = await db.sql`SELECT to_regclass('app_events_account_only_idx') AS i`;
    expect(none?.i).toBeNull();

    const allowed = run(
      bin('pgparts'),
      ['migrate', '--config', 'pgparts.config.ts', '--allow-blocking-indexes'],
      env,
    );
    expect(allowed, allowed.out).toMatchObject({ code: 0 });
    expect(allowed.out).toContain(`applied app ${tag}`);
    const [built] = await db.sql`SELECT to_regclass('app_events_account_only_idx') AS i`;
    expect(built?.i).not.toBeNull();
  });
});
