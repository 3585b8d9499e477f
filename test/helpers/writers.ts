/**
 * Application writers as separate processes: python3's sqlite3 module, a Node
 * writer, and (in sqlite.ts) the sqlite3 CLI.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { onLines } from './lines.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const PY_WRITER = `${repo}test/fixtures/writer.py`;
const NODE_WRITER = fileURLToPath(new URL('../fixtures/node-writer.js', import.meta.url));

function check(r: ReturnType<typeof spawnSync>, what: string): string {
  assert.is(r.status, 0, `${what} failed: ${r.stderr}`);
  return String(r.stdout);
}

/** Runs the Python writer to completion. */
export function python(db: string, ...args: string[]): string {
  return check(spawnSync('python3', [PY_WRITER, db, ...args], { encoding: 'utf8' }), `python3 writer ${args.join(' ')}`);
}

/** Runs the Python writer without blocking this process; resolves with its output. */
export function pythonAsync(db: string, ...args: string[]): Promise<string> {
  return collect(spawn('python3', [PY_WRITER, db, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }), `python3 writer ${args.join(' ')}`);
}

/** Runs the Node writer to completion. */
export function nodeWriter(db: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  return check(spawnSync(process.execPath, [NODE_WRITER, db, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 }), `node writer ${args[0]}`);
}

/** Runs the Node writer without blocking this process (whose agents' logs keep flowing); resolves with its output. */
export function nodeWriterAsync(db: string, args: string[]): Promise<string> {
  return collect(spawn(process.execPath, [NODE_WRITER, db, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }), `node writer ${args[0]}`);
}

/** Resolves with the output of `child` once it exits 0; rejects, with its stderr, otherwise. */
function collect(child: ChildProcess, what: string): Promise<string> {
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${what} exited ${code}: ${err}`)))));
}

/** A continuous one-row-per-transaction writer; `commits` maps id → commit time. */
export class SeqWriter {
  readonly commits = new Map<number, number>();
  private done: Promise<void>;
  private constructor(readonly child: ChildProcess) {
    onLines(child.stdout!, (line) => {
      const [id, ms] = line.split(' ').map(Number);
      this.commits.set(id!, ms!);
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    this.done = new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 || code === null ? resolve() : reject(new Error(`seq writer exited ${code}: ${err}`)))));
  }

  /** Starts writing `n` transactions, `delayMs` apart. */
  static start(db: string, n: number, delayMs: number, env: NodeJS.ProcessEnv = {}): SeqWriter {
    return new SeqWriter(spawn(process.execPath, [NODE_WRITER, db, 'seq', String(n), String(delayMs)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
  }

  /** Asks it to stop after the current transaction and waits. */
  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.done;
  }

  /** Waits until it has written everything. */
  finished(): Promise<void> {
    return this.done;
  }
}
