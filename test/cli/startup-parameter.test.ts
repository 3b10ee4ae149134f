import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgparts } from './run-cli.js';

/**
 * pgbouncer refuses a startup parameter it does not know with an ErrorResponse before
 * authentication. A listener that answers every startup message that way, as pgbouncer does for
 * `statement_timeout` (sent by --query-timeout), stands in for it here.
 */
let server: Server;
let port = 0;

function errorResponse(message: string): Buffer {
  const fields = [
    ['S', 'FATAL'],
    ['V', 'FATAL'],
    ['C', '08P01'],
    ['M', message],
  ];
  const body = Buffer.concat([
    ...fields.map(([k, v]) => Buffer.from(`${k}${v}\0`, 'utf8')),
    Buffer.from([0]),
  ]);
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

beforeAll(async () => {
  server = createServer((socket) => {
    socket.once('data', () => {
      socket.end(errorResponse('unsupported startup parameter: statement_timeout'));
    });
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
});

afterAll(async () => {
  await new Promise((done) => server.close(done));
});

describe('a pooler that refuses the startup parameter --query-timeout sends', () => {
  it('is named, with what to do, instead of "the connection was lost"', async () => {
    const result = await pgparts(`postgres://u:p@127.0.0.1:${port}/app`, 'status');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /the server refused the connection's startup parameter statement_timeout, as a pooler such as pgbouncer does with the ones it does not know \(--query-timeout sends it\): run with --query-timeout 0 there, or list statement_timeout in the pooler's ignore_startup_parameters/,
    );
    expect(result.stderr).not.toMatch(/was lost/);
  });
});
