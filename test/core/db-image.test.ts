import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { chunkChecksum, hashDbFile, readImage, walPageIndex } from '../../core/db-image.js';
import { headerPosition, readWalHeader, scanWal } from '../../core/wal-scanner.js';
import { createWalDb, pageExactImage } from '../helpers/sqlite.js';
import { tempDir } from '../helpers/tmp.js';

const test = suite('db-image');

/** A database of about 3 MiB (three 1 MiB chunks and a part) whose newest pages are still in its WAL. */
function fixture(): { path: string; pages: number; db: ReturnType<typeof createWalDb> } {
  const path = join(tempDir('image'), 'a.db');
  const db = createWalDb(path, { autocheckpoint: 0 });
  db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)');
  const ins = db.prepare('INSERT INTO t(v) VALUES (?)');
  for (let i = 0; i < 700; i++) ins.run(Buffer.alloc(3000, i));
  db.pragma('wal_checkpoint(TRUNCATE)');
  const upd = db.prepare('UPDATE t SET v = ? WHERE id = ?');
  for (let i = 0; i < 700; i += 7) upd.run(Buffer.alloc(3000, 255 - (i % 200)), i + 1); // spread over every chunk
  for (let i = 0; i < 100; i++) ins.run(Buffer.alloc(3000, i + 7)); // and past the file's end
  const pages = db.pragma('page_count', { simple: true }) as number;
  return { path, pages, db }; // kept open until the end: closing would checkpoint the WAL away
}

test('readImage lays the WAL over the file, page-exact, with two buffers taking turns; chunkChecksum matches', async () => {
  const { path, pages, db } = fixture();
  const ref = pageExactImage(path); // SQLite's own checkpoint of a copy
  const dbFh = await open(path, 'r');
  const walFh = await open(`${path}-wal`, 'r');
  try {
    const header = (await readWalHeader(walFh))!;
    const index = walPageIndex(await scanWal(walFh, headerPosition(header), { hashPages: false }));
    assert.ok(index.size > 100, 'the WAL holds many pages');
    const copies: Buffer[] = [];
    const memory = new Set<ArrayBufferLike>();
    let sum = 0n;
    for await (const { first, chunk } of readImage(dbFh, walFh, 4096, pages, index)) {
      assert.is(first, copies.reduce((n, c) => n + c.length / 4096, 0) + 1, 'chunks follow each other');
      copies.push(Buffer.from(chunk)); // valid until the next is asked for
      memory.add(chunk.buffer);
      sum ^= chunkChecksum(first, chunk, 4096);
    }
    assert.ok(copies.length >= 4, `${copies.length} chunks`);
    assert.ok(memory.size <= 2, `chunks live in ${memory.size} buffers`);
    const image = Buffer.concat(copies);
    assert.ok(image.equals(readFileSync(ref.path)), 'the image equals the checkpointed database byte for byte');
    const refFh = await open(ref.path, 'r');
    try {
      assert.is(sum, (await hashDbFile(refFh, 4096, pages)).value, 'running XOR = page-hash table checksum');
    } finally {
      await refFh.close();
    }
  } finally {
    await dbFh.close();
    await walFh.close();
    db.close();
  }
});

test.run();
