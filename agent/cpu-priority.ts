/**
 * The agent's CPU priority (config `cpuNice`): when the application and the
 * agent want the same core, the application should win. Beside a flat-out
 * writer of one-row transactions on two cores, the writer waited for a CPU
 * 0.51-0.87 s of its 5.5-7.5 s run with the agent at nice 0 (the agent's
 * threads and its capture of 120 MB/s of WAL preempt it), and 0.22-0.35 s
 * with the agent at nice 10 (seven alternating rounds each). An idle core still goes to the agent: nice only
 * orders who runs first, so under steady load capture is as fast as before.
 *
 * Off by default: on a CPU that stays busy, a niced agent falls behind (lag,
 * and a pinned WAL that grows), and the write barrier of its checkpoints,
 * which the application waits on, is held longer while the agent waits for
 * a CPU. (With 10 as the default, a run of the test suite, which runs
 * several agents, writers and servers at once on two cores, failed a round
 * trip whose timestamp restores then assumed the agent had seen every commit
 * 0.7 s after the last one.)
 *
 * On Linux a nice value belongs to a thread, and a new thread takes its
 * creator's: so every thread the process has now is set (V8's and libuv's
 * helpers were started before any of this code ran), and every later one
 * (SQLite workers, libuv's pool) inherits it. Elsewhere the value is the
 * process's. A thread already nicer than asked (the agent started under
 * `nice`) is left alone: lowering a nice value needs privileges.
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** What was done: the nice value asked for, and how many threads were set to it. */
export interface CpuPriorityResult {
  nice: number;
  threads: number;
}

/** Sets every thread of this process to nice `nice` at least (0 leaves them as they are). */
export function lowerCpuPriority(nice: number): CpuPriorityResult {
  if (nice <= 0) return { nice, threads: 0 };
  let tids: number[];
  try {
    tids = readdirSync('/proc/self/task').map(Number).filter((t) => Number.isInteger(t) && t > 0);
  } catch {
    tids = [0]; // no /proc: the whole process
  }
  let threads = 0;
  for (const tid of tids) {
    try {
      if (getPriority(tid) >= nice) continue;
      setPriority(tid, nice);
      threads++;
    } catch {
      // A helper thread that ended since the listing.
    }
  }
  return { nice, threads };
}
