/**
 * Object names. Numbers are fixed-width lower-case hex so that lexical order
 * is numeric order and listings resume cheaply with `startAfter`:
 *
 *   <prefix>/<db>/<generation>/meta.json
 *   <prefix>/<db>/<generation>/snapshots/<txid:16>.snap
 *   <prefix>/<db>/<generation>/segments/<level:1>/<mintxid:16>-<maxtxid:16>.seg
 *   <prefix>/<db>/lock.json                      (writer fence)
 *
 * A generation id is 16 hex digits of its start time in ms and 8 random hex
 * digits, so generations sort by age.
 */
import { randomBytes } from 'node:crypto';

const HEX16 = /^[0-9a-f]{16}$/;
const GENERATION = /^[0-9a-f]{24}$/;

/** A parsed object name (relative to `<prefix>/<db>/`). */
export type ParsedKey =
  | { kind: 'meta'; generation: string }
  | { kind: 'snapshot'; generation: string; txid: number }
  | { kind: 'segment'; generation: string; level: number; minTxid: number; maxTxid: number };

/** Formats a txid as 16 hex digits. */
export function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

/** Joins name parts, dropping empty ones (an empty prefix adds nothing). */
export function joinKey(...parts: string[]): string {
  return parts.filter((p) => p !== '').map((p) => p.replace(/^\/+|\/+$/g, '')).join('/');
}

/** Names of one database's objects under one prefix. */
export class Layout {
  constructor(
    readonly prefix: string,
    readonly db: string,
  ) {}

  /** Prefix of everything of this database, with a trailing slash. */
  get root(): string {
    return joinKey(this.prefix, this.db) + '/';
  }

  generation(gen: string): string {
    return `${this.root}${gen}/`;
  }

  meta(gen: string): string {
    return `${this.generation(gen)}meta.json`;
  }

  snapshot(gen: string, txid: number): string {
    return `${this.generation(gen)}snapshots/${hex16(txid)}.snap`;
  }

  segment(gen: string, level: number, minTxid: number, maxTxid: number): string {
    return `${this.generation(gen)}segments/${level}/${hex16(minTxid)}-${hex16(maxTxid)}.seg`;
  }

  lock(): string {
    return `${this.root}lock.json`;
  }

  /** Parses a full object name of this database; null for names that are not walcast objects. */
  parse(key: string): ParsedKey | null {
    if (!key.startsWith(this.root)) return null;
    return parseRelativeKey(key.slice(this.root.length));
  }
}

/** Parses `<generation>/...` names. */
export function parseRelativeKey(rel: string): ParsedKey | null {
  const parts = rel.split('/');
  const generation = parts[0]!;
  if (!GENERATION.test(generation)) return null;
  if (parts.length === 2 && parts[1] === 'meta.json') return { kind: 'meta', generation };
  if (parts.length === 3 && parts[1] === 'snapshots') {
    const m = /^([0-9a-f]{16})\.snap$/.exec(parts[2]!);
    if (m) return { kind: 'snapshot', generation, txid: parseInt(m[1]!, 16) };
  }
  if (parts.length === 4 && parts[1] === 'segments' && /^[0-9]$/.test(parts[2]!)) {
    const m = /^([0-9a-f]{16})-([0-9a-f]{16})\.seg$/.exec(parts[3]!);
    if (m && HEX16.test(m[1]!)) {
      const minTxid = parseInt(m[1]!, 16);
      const maxTxid = parseInt(m[2]!, 16);
      if (maxTxid >= minTxid) return { kind: 'segment', generation, level: Number(parts[2]), minTxid, maxTxid };
    }
  }
  return null;
}

/** A new generation id for a generation starting at `nowMs`. */
export function newGenerationId(nowMs = Date.now()): string {
  return nowMs.toString(16).padStart(16, '0') + randomBytes(4).toString('hex');
}

/** Start time (ms) encoded in a generation id. */
export function generationStartMs(gen: string): number {
  return parseInt(gen.slice(0, 16), 16);
}

/** True for a well-formed generation id. */
export function isGenerationId(s: string): boolean {
  return GENERATION.test(s);
}
