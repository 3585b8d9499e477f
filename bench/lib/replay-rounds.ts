/**
 * Entry of the replay scenario's timed process: `node replay-rounds.js`, the
 * spec as JSON on stdin (it carries the key), the rates as JSON on stdout.
 *
 * The scenario builds and captures its chain in the runner, then starts this
 * process with the restore tool's Node flags and environment, so the timed
 * rounds run in a process that has done nothing else, as `walcast-restore`
 * does. Each round replays into a file and into no sink, the snapshot alone
 * and the whole chain, and opens every segment without applying it.
 */
import { open } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { fileSink } from '../../core/file-sink.js';
import { Keyring } from '../../core/keyring.js';
import { Layout } from '../../core/layout.js';
import { prefetch } from '../../core/prefetch.js';
import { replay, type PageSink, type ReplayPlan } from '../../core/replay.js';
import { planRestore } from '../../core/restore-plan.js';
import { SegmentReader } from '../../core/segment.js';
import { FileStorage } from '../../core/storage/file-storage.js';
import { removeDb, removeDbAndSettle } from './files.js';

/** What the scenario hands the timed process. */
export interface ReplayRoundsSpec {
  replica: string;
  prefix: string;
  db: string;
  keyId: string;
  keyHex: string;
  /** Output file of the file-sink rounds (removed at the end). */
  out: string;
  rounds: number;
  /** Page writes in the chain, as captured. */
  pages: number;
}

/** Page writes per second of each round. */
export interface ReplayRoundsResult {
  file: number[];
  null: number[];
  decode: number[];
}

type SinkOf = () => Promise<{ sink: PageSink | null; close: () => Promise<void> }>;

async function timeReplay(plan: ReplayPlan, storage: FileStorage, keyring: Keyring, sinkOf: SinkOf): Promise<{ ms: number; pages: number }> {
  const s = await sinkOf();
  const t = performance.now();
  try {
    const r = await replay(plan, storage, keyring, s.sink);
    return { ms: performance.now() - t, pages: r.pages };
  } finally {
    await s.close();
  }
}

async function main(): Promise<void> {
  const spec = JSON.parse(await text(process.stdin)) as ReplayRoundsSpec;
  const storage = new FileStorage(spec.replica);
  const keyring = new Keyring(new Map([[spec.keyId, Buffer.from(spec.keyHex, 'hex')]]), spec.keyId);
  const plan = await planRestore(storage, new Layout(spec.prefix, spec.db), { kind: 'latest' });
  const snapOnly: ReplayPlan = { ...plan, target: { kind: 'txid', txid: 0 } };
  const toFile: SinkOf = async () => {
    removeDbAndSettle(spec.out); // the last output's freeing and writeback stay out of the timed run
    const fh = await open(spec.out, 'w');
    const sink = fileSink(fh);
    return { sink, close: async () => (await sink.settle(), await fh.sync(), await fh.close()) };
  };
  const toNull: SinkOf = async () => ({ sink: null, close: async () => {} });
  const decodeOnly = async (): Promise<number> => {
    const t = performance.now();
    for await (const { item, source } of prefetch(storage, plan.segments)) {
      const seg = await SegmentReader.open(source, keyring, item.key);
      for await (const run of seg.runs()) void run;
    }
    return performance.now() - t;
  };

  const result: ReplayRoundsResult = { file: [], null: [], decode: [] };
  for (let r = 0; r < spec.rounds; r++) {
    const nullSnap = await timeReplay(snapOnly, storage, keyring, toNull);
    const nullAll = await timeReplay(plan, storage, keyring, toNull);
    const fileSnap = await timeReplay(snapOnly, storage, keyring, toFile);
    const fileAll = await timeReplay(plan, storage, keyring, toFile);
    const decodeMs = await decodeOnly();
    result.null.push(nullAll.pages / ((nullAll.ms - nullSnap.ms) / 1000));
    result.file.push(fileAll.pages / ((fileAll.ms - fileSnap.ms) / 1000));
    result.decode.push(spec.pages / (decodeMs / 1000));
  }
  removeDb(spec.out);
  process.stdout.write(JSON.stringify(result));
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
