/**
 * Argument parsing shared by the subcommands: node's parseArgs, with every
 * mistake turned into a UsageError that points at --help.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../core/errors.js';

/** Options every subcommand takes. */
export const COMMON_OPTIONS = {
  config: { type: 'string', default: 'agent.config.json' },
  db: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Parses `argv` for subcommand `cmd`. */
export function parse<O extends NonNullable<ParseArgsConfig['options']>>(cmd: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: `see walcast-restore ${cmd} --help` });
  }
}

/** Parses a non-negative integer option. */
export function intOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** Parses an ISO-8601 timestamp option into ms since the epoch. */
export function timeOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) throw new UsageError(`--${name} must be an ISO-8601 time such as 2026-11-24T18:00:00Z, got ${JSON.stringify(v)}`);
  return ms;
}
