/**
 * Streams an encoder's output into `Storage.put`: the encoder pushes buffers,
 * the store pulls them, with backpressure, so no object is ever held whole.
 * If the encoder fails, the put is aborted and nothing is stored.
 */
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import type { Storage } from './storage.js';

/** Runs `produce` with a sink that feeds `storage.put(key, …)`; returns what `produce` returned. */
export async function writeObject<T>(
  storage: Storage,
  key: string,
  produce: (sink: (buffers: Buffer[]) => Promise<void>) => Promise<T>,
  opts: { size?: number } = {},
): Promise<T> {
  const pt = new PassThrough({ highWaterMark: 1 << 20 });
  const put = storage.put(key, pt, opts.size === undefined ? {} : { size: opts.size });
  put.catch(() => {}); // awaited below; avoid an unhandled rejection while producing
  let result: T;
  try {
    result = await produce(async (buffers) => {
      for (const b of buffers) {
        if (!pt.write(b)) await Promise.race([once(pt, 'drain'), put]);
      }
    });
  } catch (err) {
    pt.destroy(err as Error);
    await put.catch(() => {});
    throw err;
  }
  pt.end();
  await put;
  return result;
}
