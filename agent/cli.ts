#!/usr/bin/env -S MALLOC_ARENA_MAX=1 node --optimize-for-size
/**
 * walcast-agent: parse arguments, dispatch, print errors once.
 */
import { parseArgs } from 'node:util';
import { runMain } from '../core/cli-main.js';
import { UsageError } from '../core/errors.js';
import { loadConfig } from '../core/config.js';
import { Agent, VERSION } from './agent.js';
import { createLogger } from './logger.js';
import { lowerCpuPriority } from './cpu-priority.js';
import { initFirstRun } from './first-run.js';
import { keygen, KEYGEN_USAGE } from './keygen.js';

const USAGE = `Usage: walcast-agent [--config FILE] [--once] [--init] [--log-level LEVEL]
       walcast-agent keygen [--out FILE]

Continuously backs up SQLite databases in WAL mode: tails each WAL, seals
committed transactions into encrypted segments and uploads them, with
periodic snapshots, to the destinations in the config.

Options:
  --config FILE      config file (default: agent.config.json)
  --once             capture what is committed now, upload it, and exit
  --init             first run: create a missing key file and a demo database
                     where the config names ones that do not exist
  --log-level LEVEL  fatal|error|warn|info|debug|trace (default: from config)
  -h, --help         show this help
  -v, --version      print the version

SIGTERM or SIGINT captures and uploads what is committed, then exits.
Exit status: 0 stopped cleanly, 1 runtime failure, 2 bad usage or config.`;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'keygen') return keygen(argv.slice(1));
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', default: 'agent.config.json' },
        once: { type: 'boolean', default: false },
        init: { type: 'boolean', default: false },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: 'see walcast-agent --help' });
  }
  if (args.help) {
    console.log(`${USAGE}\n\n${KEYGEN_USAGE}`);
    return 0;
  }
  if (args.version) {
    console.log(`walcast-agent ${VERSION}`);
    return 0;
  }
  const config = loadConfig(args.config!);
  const log = createLogger(args['log-level'] ?? process.env.WALCAST_LOG_LEVEL ?? config.log.level);
  if (args.init) await initFirstRun(config, log);
  // Before the agent starts its threads, which then inherit the value.
  const priority = lowerCpuPriority(config.cpuNice);
  if (priority.threads) log.debug(priority, 'CPU priority lowered');
  const agent = new Agent(config, log);
  if (args.once) {
    await agent.runOnce();
    return 0;
  }
  let signals = 0;
  const stop = (sig: string): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting without waiting for uploads');
      process.exit(130);
    }
    log.info({ signal: sig }, 'stopping: capturing and uploading what is committed');
    void agent.close(30_000).then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await agent.start();
  return new Promise<number>(() => {}); // runs until a signal
}

runMain(main);
