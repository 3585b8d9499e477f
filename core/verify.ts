/**
 * Verifies a database's backups without restoring them: every object is read
 * and decrypted; the segment chain is replayed over page hashes from the
 * oldest snapshot, checking txid continuity, the hash chain and the database
 * checksum after every commit; every snapshot's pages are checked against its
 * checksum and against the replayed state at its txid. Problems name the object.
 */
import { listGenerations, readMeta, segmentChain, type GenerationInfo, type SegmentRef } from './catalog.js';
import { DbChecksum } from './db-checksum.js';
import { TargetError, WalcastError, describeError } from './errors.js';
import type { Keyring } from './keyring.js';
import type { Layout } from './layout.js';
import { formatChecksum, lockPage, pageHash } from './page-hash.js';
import { replay } from './replay.js';
import { SegmentReader } from './segment.js';
import { SnapshotReader } from './snapshot.js';
import type { Storage } from './storage/storage.js';

/** One thing wrong, naming the object. */
export interface VerifyProblem {
  generation: string;
  object: string;
  code: string;
  message: string;
}

/** What verify found for one generation. */
export interface GenerationReport {
  id: string;
  snapshots: number;
  segments: number;
  /** Newest txid replayed and proven. */
  verifiedTxid: number;
  bytes: number;
}

/** The whole report. */
export interface VerifyReport {
  db: string;
  generations: GenerationReport[];
  objects: number;
  bytes: number;
  problems: VerifyProblem[];
}

/** Verifies every generation (or just `generation`) of `layout.db`. */
export async function verifyDatabase(storage: Storage, layout: Layout, keyring: Keyring, opts: { generation?: string } = {}): Promise<VerifyReport> {
  let gens = await listGenerations(storage, layout);
  if (opts.generation !== undefined) gens = gens.filter((g) => g.id === opts.generation);
  if (gens.length === 0) {
    throw new TargetError(`no backups of database "${layout.db}"${opts.generation ? ` generation ${opts.generation}` : ''} in ${storage.description}`, {
      hint: 'check the database name and the destination prefix (walcast-restore list)',
    });
  }
  const report: VerifyReport = { db: layout.db, generations: [], objects: 0, bytes: 0, problems: [] };
  for (const gen of gens) report.generations.push(await verifyGeneration(storage, layout, keyring, gen, report));
  const seen = new Set<string>();
  report.problems = report.problems.filter((p) => {
    const k = `${p.object}\n${p.message}`;
    return !seen.has(k) && (seen.add(k), true);
  });
  return report;
}

async function verifyGeneration(storage: Storage, layout: Layout, keyring: Keyring, gen: GenerationInfo, report: VerifyReport): Promise<GenerationReport> {
  const problem = (object: string, err: unknown): void => {
    const code = err instanceof WalcastError ? err.code : 'WALCAST_ERR';
    const named = err instanceof WalcastError && typeof err.context.object === 'string' ? err.context.object : object;
    report.problems.push({ generation: gen.id, object: named, code, message: describeError(err).message });
  };
  const out: GenerationReport = { id: gen.id, snapshots: gen.snapshots.length, segments: gen.segments.length, verifiedTxid: -1, bytes: gen.bytes };
  report.objects += gen.snapshots.length + gen.segments.length + (gen.hasMeta ? 1 : 0);
  report.bytes += gen.bytes;

  const metaKey = layout.meta(gen.id);
  if (!gen.hasMeta) problem(metaKey, new WalcastError('WALCAST_ERR_NOT_FOUND', `object ${metaKey} is missing`));
  else await readMeta(storage, layout, gen.id).catch((err) => problem(metaKey, err));

  // Every snapshot: decrypts, and its pages match its own checksum.
  const snapshotSums = new Map<number, { key: string; checksum: string }>();
  for (const s of gen.snapshots) {
    try {
      const r = await SnapshotReader.open(await storage.get(s.key), keyring, s.key);
      const h = r.header;
      if (h.generation !== gen.id || h.txid !== s.txid) throw new WalcastError('WALCAST_ERR_CORRUPT', `object ${s.key} claims generation ${h.generation} txid ${h.txid}`);
      const sum = new DbChecksum(h.pageSize, h.dbPages);
      const lock = lockPage(h.pageSize);
      let p = 1;
      for await (const chunk of r.chunks()) {
        for (let o = 0; o < chunk.length; o += h.pageSize, p++) if (p !== lock) sum.setPage(p, pageHash(p, chunk.subarray(o, o + h.pageSize)));
      }
      sum.applyCommit([], [], 0, h.dbPages);
      if (formatChecksum(sum.value) !== h.checksum) throw new WalcastError('WALCAST_ERR_CHECKSUM', `object ${s.key}: its pages do not match its recorded checksum`);
      snapshotSums.set(s.txid, { key: s.key, checksum: h.checksum });
    } catch (err) {
      problem(s.key, err);
    }
  }
  if (gen.snapshots.length === 0) {
    problem(layout.generation(gen.id), new WalcastError('WALCAST_ERR_NOT_FOUND', `generation ${gen.id} has no snapshot, so nothing in it can be restored`));
    for (const s of gen.segments) await decodeOnly(storage, keyring, s).catch((err) => problem(s.key, err));
    return out;
  }

  // The chain from the oldest snapshot: contiguous, hash-linked, checksums proven per commit.
  const base = gen.snapshots[0]!;
  const chain = segmentChain(gen, base.txid);
  if (chain.gap) {
    const next = gen.segments.find((s) => s.minTxid === chain.gap!.nextMin);
    problem(next?.key ?? layout.generation(gen.id), new WalcastError('WALCAST_ERR_CHAIN', `missing segment: txids ${chain.gap.after + 1}..${(chain.gap.nextMin ?? 0) - 1} of generation ${gen.id} are not in the destination (next object: ${next?.key})`));
  }
  const inChain = new Set(chain.segments.map((s) => s.key));
  const stray = gen.segments.filter((s) => !inChain.has(s.key) && s.maxTxid > base.txid && !(chain.gap && s.minTxid >= (chain.gap.nextMin ?? Infinity)));
  for (const s of stray) problem(s.key, new WalcastError('WALCAST_ERR_CHAIN', `object ${s.key} overlaps other segments of generation ${gen.id}`));

  const checked = new Set<string>();
  try {
    const plan = { db: layout.db, generation: gen, snapshot: base, segments: chain.segments, target: { kind: 'latest' as const } };
    const result = await replay(plan, storage, keyring, null, {
      onCommit: (txid, sum) => {
        const s = snapshotSums.get(txid);
        if (s && formatChecksum(sum) !== s.checksum) {
          problem(s.key, new WalcastError('WALCAST_ERR_CHECKSUM', `object ${s.key} differs from the state the segments replay to at txid ${txid}`));
        }
      },
    });
    for (const k of result.segmentHashes.keys()) checked.add(k);
    out.verifiedTxid = result.txid;
  } catch (err) {
    problem(base.key, err);
  }
  // Whatever replay did not reach is still checked for decryptability.
  for (const s of gen.segments) {
    if (checked.has(s.key)) continue;
    await decodeOnly(storage, keyring, s).catch((err) => {
      if (!report.problems.some((p) => p.object === s.key)) problem(s.key, err);
    });
  }
  return out;
}

async function decodeOnly(storage: Storage, keyring: Keyring, s: SegmentRef): Promise<void> {
  const r = await SegmentReader.open(await storage.get(s.key), keyring, s.key);
  for await (const _ of r.runs());
}
