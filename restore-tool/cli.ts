#!/usr/bin/env -S MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456 node --initial-old-space-size=64 --max-semi-space-size=1
/**
 * walcast-restore: parse the subcommand, dispatch, print errors once.
 */
import { runMain } from '../core/cli-main.js';
import { INFO_USAGE, runInfo } from './commands/info.js';
import { LIST_USAGE, runList } from './commands/list.js';
import { RESTORE_USAGE, runRestore } from './commands/restore.js';
import { VERIFY_USAGE, runVerify } from './commands/verify.js';

const USAGE = `Usage: walcast-restore <command> [options]

Commands:
  restore   rebuild a database at the newest point, a timestamp or a txid
  list      generations, snapshots and segments with txid and time ranges
  info      the recovery window: oldest and newest restorable points
  verify    check every object of the backups (and optionally a restore drill)

Run walcast-restore <command> --help for its options. Every command reads the
agent's config (--config, default agent.config.json) for destinations and keys.
Exit status: 0 success, 1 failure, 2 bad usage or config.`;

const commands: Record<string, { run: (argv: string[]) => Promise<number>; usage: string }> = {
  restore: { run: runRestore, usage: RESTORE_USAGE },
  list: { run: runList, usage: LIST_USAGE },
  info: { run: runInfo, usage: INFO_USAGE },
  verify: { run: runVerify, usage: VERIFY_USAGE },
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  const c = commands[cmd];
  if (!c) {
    console.error(`Error: unknown command "${cmd}"`);
    console.error('Try: walcast-restore --help');
    return 2;
  }
  return c.run(rest);
}

runMain(main);
