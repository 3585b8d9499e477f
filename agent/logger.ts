/**
 * pino JSON logs. Secret-bearing fields are redacted wherever they appear, as
 * a second line of defence: walcast never puts key material or credentials
 * into log fields in the first place.
 */
import { pino, type Logger as PinoLogger } from 'pino';

/** The logger type used across the agent. */
export type Logger = PinoLogger;

const REDACT = [
  'key', '*.key', 'secretAccessKey', '*.secretAccessKey', '*.*.secretAccessKey', 'sessionToken', '*.sessionToken',
  'connectionString', '*.connectionString', '*.*.connectionString', 'accountKey', '*.accountKey', '*.*.accountKey',
  'sasToken', '*.sasToken', '*.*.sasToken', 'authorization', '*.authorization', 'headers.authorization',
];

/** A logger at `level` writing JSON lines to stdout (or to `destination`). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const opts = { level, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(opts, destination) : pino(opts);
}
