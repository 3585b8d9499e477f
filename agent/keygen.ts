/**
 * `walcast-agent keygen`: makes a new 32-byte key, as base64, on stdout or in
 * a new file readable by its owner only.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { KeyError, UsageError } from '../core/errors.js';
import { generateKeyBase64 } from '../core/keyring.js';

export const KEYGEN_USAGE = `Usage: walcast-agent keygen [--out FILE]

Creates a new random 32-byte encryption key (base64). With --out, writes it to
a new file with mode 0600 (never overwrites); otherwise prints it. Back the key
up somewhere other than the backups: without it nothing can be restored.`;

/** Runs the keygen subcommand; returns the exit code. */
export function keygen(argv: string[]): number {
  let values;
  try {
    values = parseArgs({ args: argv, options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }).values;
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: 'see walcast-agent keygen --help' });
  }
  if (values.help) {
    console.log(KEYGEN_USAGE);
    return 0;
  }
  const key = generateKeyBase64();
  if (values.out === undefined) {
    console.log(key);
    return 0;
  }
  writeKeyFile(values.out, key);
  console.error(`wrote a new key to ${values.out} (mode 0600); back it up`);
  return 0;
}

/** Writes a new key file; refuses to replace an existing one. */
export function writeKeyFile(path: string, keyBase64: string): void {
  try {
    writeFileSync(path, keyBase64 + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyError(`${path} already exists; walcast never overwrites a key file`, { hint: 'choose another path, or delete the old key only if nothing was ever backed up with it' });
    }
    throw err;
  }
}
