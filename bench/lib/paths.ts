/**
 * Where things live: the repository root (found from this compiled file, so
 * the bench runs from any working directory), the compiled CLIs, and the
 * bench's own folders for results and scratch files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    const pkg = join(d, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'walcast') return d;
    if (dirname(d) === d) throw new Error(`no walcast package.json above ${from}`);
  }
}

/** The repository root. */
export const REPO_ROOT = findRepoRoot(dirname(fileURLToPath(import.meta.url)));
/** Compiled output of the repository. */
export const DIST = join(REPO_ROOT, 'dist');
/** The agent CLI. */
export const AGENT_CLI = join(DIST, 'agent', 'cli.js');
/** The restore CLI. */
export const RESTORE_CLI = join(DIST, 'restore-tool', 'cli.js');
/** The bench's writer process (compiled). */
export const WRITER_PROCESS = join(DIST, 'bench', 'lib', 'writer-process.js');
/** Entry of the replay scenario's timed process. */
export const REPLAY_ROUNDS = join(DIST, 'bench', 'lib', 'replay-rounds.js');
/** Default folder for result JSON files (source tree, so they sit beside the code; gitignored). */
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
/** Default scratch folder (gitignored); each scenario gets a subfolder removed afterwards. */
export const WORK_DIR = join(REPO_ROOT, 'bench', '.work');
/** The human-readable record of the latest full run. */
export const RESULTS_MD = join(REPO_ROOT, 'bench', 'RESULTS.md');
