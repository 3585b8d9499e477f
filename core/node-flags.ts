/**
 * Node.js flags and environment the two programs run with. Neither can be
 * set from inside a running process, so each program's shebang line and
 * every place that starts it (npm start, the systemd unit, the agent's
 * restore drills, the tests and the bench) carry them.
 *
 * Agent: a small young generation keeps its memory flat under load (peak
 * RSS 106 MiB instead of 125 MiB in a flat-out write test) without
 * measurable cost: its garbage is short-lived buffers.
 *
 * Restore tool: a larger first old-generation limit. Loading the tool's
 * modules ends in a full collection that leaves V8 a tight old-generation
 * limit; a restore then promotes a little of its per-chunk garbage and ran
 * about 90 full collections for a 1 GiB database (user CPU 3.5-4.8 s).
 * With the flag it runs none, and the same restore takes 1.5 s less CPU and
 * 0.6-1.2 s less wall time, at the same peak RSS.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
export const RESTORE_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

/**
 * Both programs: glibc's malloc with one arena for all threads (other C
 * libraries ignore the variable). By default each thread that allocates
 * gets an arena of its own, and memory freed into one is reused by that one
 * only: the restore's chunks are allocated on decoder threads and freed on
 * the main thread, and every arena kept its own pile. Measured with the
 * bench's memory scenario: the 4 GiB restore's peak RSS 295 -> 243 MiB, the
 * agent under load 135 -> 129 MiB (64 MiB database) and 153 -> 143 MiB
 * (4 GiB); the 4 GiB restore ran no slower (17-20 s against 18-21 s).
 */
export const PROGRAM_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

/** The environment to start either program with: this process's, `PROGRAM_ENV`, then `extra`. */
export function programEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...PROGRAM_ENV, ...extra };
}

/**
 * The restore's worker threads (decoders, page writer, integrity check):
 * each is an isolate with a young generation of its own, and they allocate
 * few JavaScript objects, so a small one is enough, and what it holds dead
 * is less. Measured on a 4 GiB restore (4 runs each, alternating): peak RSS
 * 237-268 MiB (mean 249) without the limit, 234-240 MiB (mean 237) with
 * it; a 1 GiB restore took as long.
 */
export const RESTORE_WORKER_LIMITS = { maxYoungGenerationSizeMb: 3 } as const;
