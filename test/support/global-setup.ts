import { rmSync } from 'node:fs';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/migrations/migrate.js';
import { bundleCli } from './cli-bundle.js';
import { pgliteImagesDir, sweepPgliteImages } from './pglite-images.js';
import { startTestServer } from './server.js';
import { TEMPLATE_DATABASE, withDatabase } from './urls.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
    /** The CLI as one bundled file, for the tests that run it as a separate process. */
    cliBundle: string;
    /** What initdb made for the test server, for the servers test files start ('' if none). */
    initdbImage: string;
  }
}

/**
 * Starts (or connects to) the test server once, and builds a migrated template database that
 * test files clone, and bundles the CLI for the tests that launch it. Returns the teardown, which vitest runs even when tests fail.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  project.provide('cliBundle', bundleCli());
  sweepPgliteImages();
  const server = await startTestServer((line) => console.log(line));
  try {
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    const template = `${TEMPLATE_DATABASE}_${process.pid}`;
    await admin.unsafe(`DROP DATABASE IF EXISTS "${template}"`);
    await admin.unsafe(`CREATE DATABASE "${template}"`);
    await admin.end();

    const client = postgres(withDatabase(server.url, template), { max: 1, onnotice: () => {} });
    await migrate(drizzle(client));
    await client.end();

    project.provide('adminUrl', server.url);
    project.provide('initdbImage', server.initdbImage ?? '');
    project.provide('templateDatabase', template);
    return async () => {
      rmSync(pgliteImagesDir(template), { recursive: true, force: true });
      if (process.env.DATABASE_URL) {
        const cleanup = postgres(server.url, { max: 1, onnotice: () => {} });
        await cleanup.unsafe(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
        await cleanup.end();
      }
      await server.stop();
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
