/**
 * A TCP proxy to put in front of a real server in tests: it can delay every
 * chunk (a slow destination), refuse and cut connections (an outage), and it
 * counts the HTTP requests passing through, by method.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** A running proxy. */
export interface TestProxy {
  port: number;
  /** Milliseconds added before forwarding each chunk, both ways. */
  delayMs: number;
  /** While true, new connections are refused and open ones are cut. */
  blocked: boolean;
  /** HTTP requests seen, by method. */
  requests: Record<string, number>;
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 forwarding to `targetPort`. */
export async function startProxy(targetPort: number): Promise<TestProxy> {
  const sockets = new Set<Socket>();
  const state: TestProxy = {
    port: 0,
    delayMs: 0,
    blocked: false,
    requests: {},
    block() {
      state.blocked = true;
      for (const s of sockets) s.destroy();
    },
    unblock() {
      state.blocked = false;
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
  const forward = (from: Socket, to: Socket, countRequests: boolean): void => {
    from.on('data', (chunk: Buffer) => {
      if (countRequests) {
        for (const m of chunk.toString('latin1').matchAll(/(?:^|\r\n)(GET|PUT|POST|DELETE|HEAD) \/\S* HTTP\/1\.[01]\r\n/g)) {
          state.requests[m[1]!] = (state.requests[m[1]!] ?? 0) + 1;
        }
      }
      if (state.delayMs <= 0) {
        to.write(chunk);
        return;
      }
      from.pause();
      setTimeout(() => {
        to.write(chunk);
        from.resume();
      }, state.delayMs);
    });
    from.on('end', () => to.end());
    from.on('error', () => to.destroy());
    from.on('close', () => to.destroy());
  };
  const server: Server = createServer((client) => {
    if (state.blocked) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    forward(client, upstream, true);
    forward(upstream, client, false);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.port = (server.address() as { port: number }).port;
  return state;
}
