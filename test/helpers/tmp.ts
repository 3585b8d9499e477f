/** Temporary folders for tests, removed when the process exits unless WALCAST_KEEP_TMP is set. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
process.on('exit', () => {
  if (process.env.WALCAST_KEEP_TMP) return;
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A fresh empty folder. */
export function tempDir(label = 'test'): string {
  const d = mkdtempSync(join(tmpdir(), `walcast-${label}-`));
  made.push(d);
  return d;
}
