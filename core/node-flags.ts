/**
 * Node.js flags and environment the two programs run with. Neither can be
 * set from inside a running process, so each program's shebang line and
 * every place that starts it (npm start, the systemd unit, the agent's
 * restore drills, the tests and the bench) carry them.
 *
 * Agent: V8's --optimize-for-size. It sets a 1 MiB young generation (over
 * any --max-semi-space-size; the agent ran with 2 before, which kept its
 * memory flat under load: peak RSS 106 MiB instead of 125 MiB in a flat-out
 * write test), and its heap grows in smaller steps and is collected sooner.
 * With a 64 MiB database under the bench's memory load (500 tx/s, 30 s)
 * peak RSS 117-124 -> 109-111 MiB against --max-semi-space-size=2 alone
 * (four alternating runs each); capture throughput unchanged within the
 * noise (bench capture, twice each: 210 and 232 MB/s without, 210 and 215
 * with). The price is paid under bulk writes (20 MB/s), where the extra
 * full collections land on the segment path: lag p99 1.079-1.105 ->
 * 1.083-1.116 s at sync 1 s (folder), and 0.127-0.140 -> 0.137-0.142 s at
 * sync 100 ms (S3), three alternating runs each; at a steady 500 tx/s, sync
 * 100 ms (folder), 0.104 -> 0.105 s in all three pairs.
 *
 * Restore tool: a larger first old-generation limit. Loading the tool's
 * modules ends in a full collection that leaves V8 a tight old-generation
 * limit; a restore then promotes a little of its per-chunk garbage and ran
 * about 90 full collections for a 1 GiB database (user CPU 3.5-4.8 s).
 * With the flag it runs none, and the same restore takes 1.5 s less CPU and
 * 0.6-1.2 s less wall time, at the same peak RSS. And a 1 MiB young
 * generation, as the agent has: replay opens segment chunks on the main
 * thread, and every chunk leaves its decrypted and decompressed buffers
 * behind, which a default-sized young generation held for tens of megabytes
 * before a collection freed them. The 4 GiB restore's peak RSS 264-268 ->
 * 226-235 MiB, and it ran no slower (11.9-12.1 s against 13.4-15.0 s; 1 GiB
 * after 2 minutes of writes 4.8-5.0 s against 4.8-5.1 s).
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--optimize-for-size'];
export const RESTORE_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64', '--max-semi-space-size=1'];

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

/**
 * The restore tool, on top of PROGRAM_ENV: glibc's mmap threshold fixed at
 * 32 MiB and its trim threshold at 256 MiB. By default an allocation above
 * 128 KiB gets fresh pages from the kernel until a freed one raises the
 * threshold, and freed memory at the top of the heap goes back to the
 * kernel; either way the next chunk faults its pages in again, which on
 * this kind of machine costs more than the copy itself. With the settings,
 * the restore reuses the memory it freed and holds it until it exits.
 * Measured: 1 GiB after-writes restore without integrity_check, 9
 * alternating runs each, median 6.41 s -> 5.62 s (system CPU 2.8-3.9 s ->
 * 2.1-3.4 s); the bench's replay chain into a file, 2 processes x 4 rounds,
 * 70-102k -> 93-122k pages/s; the 4 GiB restore's peak RSS 235-240 MiB ->
 * 236-284 MiB (4 runs), a little higher. (A trim threshold alone also fixes
 * the mmap threshold at 128 KiB: three times slower.)
 */
export const RESTORE_ENV: Readonly<Record<string, string>> = { ...PROGRAM_ENV, MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: String(256 << 20) };

/** The environment to start the agent with: this process's, `PROGRAM_ENV`, then `extra`. */
export function programEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...PROGRAM_ENV, ...extra };
}

/** The environment to start the restore tool with: this process's, `RESTORE_ENV`, then `extra`. */
export function restoreEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...RESTORE_ENV, ...extra };
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
