/**
 * Encryption keys: 32 random bytes each, known by an id. The active key seals
 * new objects; any key in the ring opens old ones, so keys rotate without
 * re-uploading history. Key bytes never appear in messages: errors name the
 * key id and where the key was to come from, never its value.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KeyError } from './errors.js';

export const KEY_SIZE = 32;

/** Where one key comes from. */
export interface KeySource {
  id: string;
  /** Path of a file holding 32 raw bytes or their base64. */
  file?: string;
  /** Name of an environment variable holding the key's base64. */
  env?: string;
}

/** A set of keys by id, one of them active. */
export class Keyring {
  private readonly keys: ReadonlyMap<string, Buffer>;
  readonly activeId: string;

  constructor(keys: ReadonlyMap<string, Buffer>, activeId: string) {
    for (const [id, key] of keys) {
      if (key.length !== KEY_SIZE) throw new KeyError(`key "${id}" is ${key.length} bytes; a key is ${KEY_SIZE} bytes`);
    }
    if (!keys.has(activeId)) {
      throw new KeyError(`the active key "${activeId}" is not in the keyring`, {
        hint: 'list it under encryption.keys, or set encryption.activeKey to one of the listed ids',
      });
    }
    this.keys = keys;
    this.activeId = activeId;
  }

  /** The key that seals new objects. */
  get active(): { id: string; key: Buffer } {
    return { id: this.activeId, key: this.keys.get(this.activeId)! };
  }

  /** Key bytes for `id`; throws KeyError naming the object that needs it. */
  get(id: string, object?: string): Buffer {
    const key = this.keys.get(id);
    if (!key) {
      throw new KeyError(`${object ? `object ${object} needs` : 'need'} key "${id}", which the keyring does not hold`, {
        hint: `add the key with id "${id}" to encryption.keys (ids held: ${[...this.keys.keys()].join(', ')})`,
        context: { keyId: id, object },
      });
    }
    return key;
  }

  /** Ids held. */
  ids(): string[] {
    return [...this.keys.keys()];
  }
}

/** Decodes key material: 32 raw bytes, or base64 text (whitespace ignored). */
export function decodeKey(raw: Buffer, where: string): Buffer {
  const text = raw.toString('latin1').trim();
  const looksLikeText = /^[A-Za-z0-9+/=_-]+$/.test(text);
  // 32 random bytes are all base64 characters with odds of 4^-32: such a file is text, not a raw key.
  if (raw.length === KEY_SIZE && !looksLikeText) return Buffer.from(raw);
  if (looksLikeText) {
    const bytes = Buffer.from(text, 'base64');
    if (bytes.length === KEY_SIZE) return bytes;
  }
  throw new KeyError(`${where} does not hold a ${KEY_SIZE}-byte key (raw, or base64 of 32 bytes)`, {
    hint: 'create a key with: walcast-agent keygen --out <file>',
  });
}

/** Loads every key source; `resolvePath` makes relative key file paths absolute. */
export function loadKeyring(
  sources: readonly KeySource[],
  activeId: string,
  env: NodeJS.ProcessEnv = process.env,
  resolvePath: (p: string) => string = (p) => p,
): Keyring {
  const keys = new Map<string, Buffer>();
  for (const src of sources) {
    if (keys.has(src.id)) throw new KeyError(`key id "${src.id}" is listed twice in encryption.keys`);
    keys.set(src.id, loadKey(src, env, resolvePath));
  }
  return new Keyring(keys, activeId);
}

function loadKey(src: KeySource, env: NodeJS.ProcessEnv, resolvePath: (p: string) => string): Buffer {
  if (src.file !== undefined) {
    const path = resolvePath(src.file);
    let raw: Buffer;
    try {
      raw = readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new KeyError(`cannot read key "${src.id}" from file ${path}: ${code ?? String(err)}`, {
        hint:
          code === 'ENOENT'
            ? `create it with: walcast-agent keygen --out ${src.file} (then back it up: without it nothing can be restored)`
            : 'check the file permissions: the agent and the restore tool must be able to read it',
        context: { keyId: src.id, file: path },
      });
    }
    return decodeKey(raw, `key file ${path} (key "${src.id}")`);
  }
  if (src.env !== undefined) {
    const value = env[src.env];
    if (value === undefined || value === '') {
      throw new KeyError(`key "${src.id}": environment variable ${src.env} is not set`, {
        hint: `export ${src.env}=<base64 of 32 random bytes>, e.g. from: walcast-agent keygen`,
        context: { keyId: src.id, env: src.env },
      });
    }
    return decodeKey(Buffer.from(value, 'latin1'), `environment variable ${src.env} (key "${src.id}")`);
  }
  throw new KeyError(`key "${src.id}" names neither "file" nor "env"`);
}

/** A new random key, as base64 text. */
export function generateKeyBase64(): string {
  return randomBytes(KEY_SIZE).toString('base64');
}
