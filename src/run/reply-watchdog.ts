import { connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { PgpartsError } from '../errors.js';

/**
 * A client-side query timeout for postgres.js that cannot kill a long statement.
 *
 * A server (or a proxy, a NAT, a load balancer in front of it) that accepted the connection and
 * then stops answering leaves a client waiting forever: statement_timeout is the server's own
 * and never fires when the server does not see the query, and TCP keepalives are answered by
 * the proxy. A plain client-side deadline would fire as well on a legitimate long statement
 * (a copy of millions of rows, a CREATE INDEX), which says nothing while it works.
 *
 * So: when a request has had no byte of reply for `replyTimeoutS`, pgparts asks the server over
 * a new connection whether it is still working on it (`stillRunning`, e.g. pg_stat_activity
 * shows the connection's application_name active). Yes: wait another period, and ask again.
 * No, or no answer within the period: the connection is destroyed and the statement fails with
 * a `REPLY_TIMEOUT` connection error (one line in the CLI, exit 1).
 *
 * It works below TLS (it wraps the TCP socket postgres.js is given through its `socket`
 * option), so it sees encrypted traffic as bytes and needs no protocol parsing.
 */

/** Default seconds without a reply before the server is asked whether the statement runs. */
export const DEFAULT_REPLY_TIMEOUT_S = 30;

export interface ReplyWatchdogOptions {
  /** Seconds a request may go without a byte of reply before the server is asked. */
  replyTimeoutS: number;
  /**
   * Whether the server shows the statement still running; asked when a reply is late. Should
   * give up (false) within `replyTimeoutS`. Without it a late reply ends the connection.
   */
  stillRunning?: () => Promise<boolean>;
  /** Told once when a late reply ends a connection; later connections of the client then fail at once. */
  onGiveUp?: (error: Error) => void;
}

/** The error a late reply ends the statement with; `code` REPLY_TIMEOUT, like the driver's codes. */
export function replyTimeoutError(host: string, port: number | undefined, seconds: number) {
  return Object.assign(
    new Error(
      `no reply from the server for ${seconds} s and it does not show the statement running`,
    ),
    { code: 'REPLY_TIMEOUT', address: host, port },
  );
}

/**
 * The error for a connection the other end closed before it was set up without a word; `code`
 * CLOSED_UNANSWERED. A PostgreSQL server always answers before it closes (an SSL answer, an
 * error message); what closes without a word is a proxy, load balancer or port-forward with no
 * server behind it. (postgres.js would reconnect at once, without end and without a delay.)
 */
export function closedUnansweredError(host: string, port: number | undefined) {
  return Object.assign(new Error('the other end closed the connection before it was set up'), {
    code: 'CLOSED_UNANSWERED',
    address: host,
    port,
  });
}

/** The TCP socket with a watch on it: postgres.js, and TLS over it, use it as a stream. */
class WatchedSocket extends Duplex {
  host = '';
  port: number | undefined;
  private timer: NodeJS.Timeout | null = null;
  private asking = false;
  /** Whether a byte ever came back on this connection. */
  private heard = false;
  /** Whether this side ended the connection (then the other end's close is expected). */
  private finishing = false;

  constructor(
    private readonly inner: Socket,
    private readonly options: ReplyWatchdogOptions,
    private readonly gaveUp: (error: Error) => void,
  ) {
    super();
    inner.on('data', (chunk: Buffer) => {
      this.heard = true;
      this.replied();
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => {
      // An error, not an end: the driver then fails the connection instead of retrying it.
      if (!this.heard && !this.finishing) this.destroy(closedUnansweredError(this.host, this.port));
      else this.push(null);
    });
    inner.on('error', (error) => this.destroy(error));
    inner.on('close', () => {
      this.stopWatch();
      if (!this.destroyed) this.destroy();
    });
  }

  /** As net.Socket says it; postgres.js sends its Terminate only to an 'open' one. */
  get readyState(): string {
    return this.destroyed ? 'closed' : this.inner.readyState;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.inner.setKeepAlive(enable, delay);
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.inner.setNoDelay(noDelay);
    return this;
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(
    chunk: Buffer,
    encoding: BufferEncoding,
    done: (error?: Error | null) => void,
  ): void {
    this.requested();
    this.inner.write(chunk, encoding, done);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.finishing = true;
    this.stopWatch();
    this.inner.end(done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.stopWatch();
    this.inner.destroy();
    done(error);
  }

  /** A request went out: a reply is owed from now, unless one was owed already. */
  private requested(): void {
    if (this.timer === null && !this.asking) this.arm();
  }

  /** A byte came back: nothing is late. */
  private replied(): void {
    this.stopWatch();
  }

  private stopWatch(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.timer = setTimeout(() => void this.late(), this.options.replyTimeoutS * 1000);
    this.timer.unref();
  }

  private async late(): Promise<void> {
    this.timer = null;
    this.asking = true;
    let running = false;
    try {
      running = (await this.options.stillRunning?.()) === true;
    } catch {
      running = false;
    } finally {
      this.asking = false;
    }
    if (this.destroyed) return;
    if (running) {
      this.arm();
      return;
    }
    const error = replyTimeoutError(this.host, this.port, this.options.replyTimeoutS);
    this.gaveUp(error);
    this.destroy(error);
  }
}

/** What postgres.js hands its `socket` option: the hosts, ports and unix socket path. */
interface PostgresJsSocketOptions {
  host: readonly string[];
  port: readonly number[];
  path?: string | false;
}

/**
 * A `socket` option for postgres.js: `postgres(url, { socket: replyWatchdog({...}) })` puts the
 * watch on every connection of the client. Hosts are tried in turn, one per new connection.
 */
export function replyWatchdog(
  options: ReplyWatchdogOptions,
): (connection: PostgresJsSocketOptions) => Duplex {
  if (!Number.isSafeInteger(options.replyTimeoutS) || options.replyTimeoutS < 1) {
    throw new PgpartsError(
      'invalid-input',
      `the reply timeout must be a whole number of seconds of 1 or more, not ${options.replyTimeoutS}`,
    );
  }
  let next = 0;
  // Once the server stopped answering, a reconnect would only wait again: it fails at once.
  let stopped: Error | null = null;
  const gaveUp = (error: Error) => {
    if (stopped) return;
    stopped = error;
    options.onGiveUp?.(error);
  };
  return (connection) => {
    const index = next % Math.max(1, connection.host.length);
    next += 1;
    const host = connection.host[index] ?? 'localhost';
    const port = connection.port[index] ?? connection.port[0] ?? 5432;
    const inner = connection.path ? netConnect(connection.path) : netConnect(port, host);
    // Each write goes out at once: postgres.js writes a pipelined batch in several writes when
    // it passes 1 kB, and with Nagle's algorithm on (Node's default) a small write behind a
    // large one waits for the server's acknowledgement, a round trip on a remote server.
    if (!connection.path) inner.setNoDelay(true);
    const watched = new WatchedSocket(inner, options, gaveUp);
    const failed = stopped;
    if (failed) process.nextTick(() => watched.destroy(failed));
    watched.host = connection.path ? connection.path : host;
    watched.port = connection.path ? undefined : port;
    return watched;
  };
}
