/** Helpers for the storage backends' failure tests. */
import { createServer, type Server, type Socket } from 'node:net';
import * as assert from 'uvu/assert';
import { describeError, StorageError } from '../../core/errors.js';

/** Every rendering of an error a log line or a user could see. */
export function everythingShown(err: unknown): string {
  const e = err as StorageError;
  const causes: string[] = [];
  for (let c: unknown = e.cause; c instanceof Error; c = c.cause) causes.push(`${c.name} ${c.message} ${JSON.stringify(c)}`);
  return [e.message, e.hint, JSON.stringify(e.context), describeError(e).message, String(e.stack), ...causes, JSON.stringify(e)].join('\n');
}

/** Asserts a StorageError with this reason and transience; returns it. */
export function assertFailure(err: unknown, reason: string, transient: boolean): StorageError {
  assert.instance(err, StorageError, String(err));
  const e = err as StorageError;
  assert.is(e.context.reason, reason, e.message);
  assert.is(e.transient, transient, e.message);
  return e;
}

/** A port on 127.0.0.1 where nothing listens. */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A server that accepts connections and never answers. */
export async function blackHole(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const srv: Server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}
