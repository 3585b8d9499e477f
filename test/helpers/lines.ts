/** Line splitting of a child process's output. */
import type { Readable } from 'node:stream';

/** Calls `onLine` with each complete line `stream` emits. */
export function onLines(stream: Readable, onLine: (line: string) => void): void {
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  });
}
