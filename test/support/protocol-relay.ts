import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/**
 * Calls `onMessage` with the type and body of each protocol message in a byte stream cut into
 * chunks anyhow; the client's first message has no type: it is told as 'startup'.
 */
export function messageTypes(
  onMessage: (type: string, body: Buffer) => void,
  untypedFirst: boolean,
) {
  let pending = Buffer.alloc(0);
  let first = untypedFirst;
  return (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      if (first) {
        if (pending.length < 4) return;
        const length = pending.readInt32BE(0);
        if (pending.length < length) return;
        const body = pending.subarray(4, length);
        pending = pending.subarray(length);
        first = false;
        onMessage('startup', body);
        continue;
      }
      if (pending.length < 5) return;
      const length = pending.readInt32BE(1);
      if (pending.length < 1 + length) return;
      const type = String.fromCharCode(pending[0] ?? 0);
      const body = pending.subarray(5, 1 + length);
      pending = pending.subarray(1 + length);
      onMessage(type, body);
    }
  };
}

export interface Relay {
  /** `target` with this relay's host and port: connect through it. */
  url: string;
  close(): Promise<void>;
}

/**
 * A TCP relay between clients and the server `target` names, in this process: each chunk is
 * shown to `onClientData` or `onServerData` before it is passed on, unchanged.
 */
export async function startRelay(
  target: string,
  hooks: {
    onClientData?: () => (chunk: Buffer) => void;
    onServerData?: () => (chunk: Buffer) => void;
  },
): Promise<Relay> {
  const url = new URL(target);
  const sockets = new Set<Socket>();
  const relay: Server = createServer((client) => {
    const server = tcpConnect(Number(url.port || 5432), url.hostname);
    for (const s of [client, server]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        server.destroy();
      });
      s.on('close', () => (s === client ? server : client).destroy());
    }
    const fromClient = hooks.onClientData?.();
    const fromServer = hooks.onServerData?.();
    client.on('data', (chunk: Buffer) => {
      fromClient?.(chunk);
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      fromServer?.(chunk);
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const address = relay.address();
  if (!address || typeof address === 'string') throw new Error('relay has no port');
  const relayed = new URL(target);
  relayed.hostname = '127.0.0.1';
  relayed.port = String(address.port);
  return {
    url: relayed.toString(),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    },
  };
}

/**
 * A relay that keeps every ErrorResponse the server sends its clients, as the error's SQLSTATE
 * and message: what the server also writes to its log as an ERROR.
 */
export async function errorResponses(target: string): Promise<Relay & { errors: string[] }> {
  const errors: string[] = [];
  const relay = await startRelay(target, {
    onServerData: () =>
      messageTypes((type, body) => {
        if (type !== 'E') return;
        // Fields: a code byte, then a NUL-ended string; C is the SQLSTATE, M the message.
        const fields = new Map<string, string>();
        let at = 0;
        while (at < body.length && body[at] !== 0) {
          const end = body.indexOf(0, at + 1);
          fields.set(String.fromCharCode(body[at] ?? 0), body.toString('utf8', at + 1, end));
          at = end + 1;
        }
        errors.push(`${fields.get('C')}: ${fields.get('M')}`);
      }, false),
  });
  return { ...relay, errors };
}
