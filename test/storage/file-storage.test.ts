import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileStorage } from '../../core/storage/file-storage.js';
import { storageConformance } from './conformance.js';
import { tempDir } from '../helpers/tmp.js';

storageConformance('file', {
  make: async () => new FileStorage(tempDir('fs')),
});

// File-specific: a failed put or copy leaves no temp file behind; copyFrom links on one file system and copies
// byte for byte across two;
// readInto reads a whole object into given memory, or says it does not fit.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rejects } from '../helpers/assert.js';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { NotFoundError } from '../../core/errors.js';
import { getBuffer, listAll } from '../../core/storage/storage.js';

const test = suite('file storage');
test('a put whose body stream fails leaves nothing behind', async () => {
  const root = tempDir('fs-fail');
  const s = new FileStorage(root);
  const body = new Readable({
    read() {
      this.destroy(new Error('source broke'));
    },
  });
  await rejects(() => s.put('x/y.bin', body));
  const left = readdirSync(root, { recursive: true }) as string[];
  assert.equal(left.filter((f) => f.endsWith('.bin') || f.includes('tmp')), []);
});

test('copyFrom stores a byte-exact copy of another folder\'s object, made by the kernel', async () => {
  const staging = new FileStorage(tempDir('fs-src'));
  const dest = new FileStorage(tempDir('fs-dst'));
  const bytes = randomBytes(3 << 20);
  await staging.put('db/gen/snapshots/1.snap', bytes);
  await dest.copyFrom(staging, 'db/gen/snapshots/1.snap', 'pre/db/gen/snapshots/1.snap');
  assert.ok((await getBuffer(dest, 'pre/db/gen/snapshots/1.snap')).equals(bytes));
  assert.equal((await listAll(dest, '')).map((o) => o.key), ['pre/db/gen/snapshots/1.snap']);
});

test('copyFrom on one file system links the object (no second copy of its bytes), and replaces an object already there', async () => {
  const srcRoot = tempDir('fs-src');
  const dstRoot = tempDir('fs-dst');
  const staging = new FileStorage(srcRoot);
  const dest = new FileStorage(dstRoot);
  const bytes = randomBytes(70_000);
  await staging.put('db/gen/segments/0/a.seg', bytes);
  await dest.copyFrom(staging, 'db/gen/segments/0/a.seg', 'pre/db/gen/segments/0/a.seg');
  const src = statSync(join(srcRoot, 'db/gen/segments/0/a.seg'));
  const dst = statSync(join(dstRoot, 'pre/db/gen/segments/0/a.seg'));
  assert.is(dst.ino, src.ino, 'the destination names the staged file itself');
  assert.is(src.nlink, 2);
  // A retried upload after a crash: the name exists, with other bytes.
  const again = randomBytes(1000);
  await staging.put('db/gen/segments/0/b.seg', again);
  await dest.copyFrom(staging, 'db/gen/segments/0/b.seg', 'pre/db/gen/segments/0/a.seg');
  assert.ok((await getBuffer(dest, 'pre/db/gen/segments/0/a.seg')).equals(again));
  assert.ok((await getBuffer(staging, 'db/gen/segments/0/a.seg')).equals(bytes), 'the replaced object\'s other name keeps its bytes');
  await staging.delete(['db/gen/segments/0/a.seg', 'db/gen/segments/0/b.seg']);
  assert.ok((await getBuffer(dest, 'pre/db/gen/segments/0/a.seg')).equals(again), 'removing the staged name leaves the destination\'s');
  assert.equal((await listAll(dest, '')).map((o) => o.key), ['pre/db/gen/segments/0/a.seg'], 'no temp file is left');
});

test('copyFrom across file systems copies the bytes', async () => {
  // /dev/shm is a tmpfs: another file system than the temp folder on most machines.
  const srcRoot = mkdtempSync('/dev/shm/walcast-fs-src-');
  try {
    const staging = new FileStorage(srcRoot);
    const dest = new FileStorage(tempDir('fs-dst'));
    const bytes = randomBytes(200_000);
    await staging.put('db/x.seg', bytes);
    await dest.copyFrom(staging, 'db/x.seg', 'db/x.seg');
    await dest.copyFrom(staging, 'db/x.seg', 'db/y.seg'); // after the first link failed, straight to a copy
    for (const key of ['db/x.seg', 'db/y.seg']) assert.ok((await getBuffer(dest, key)).equals(bytes), key);
    const otherFs = statSync(srcRoot).dev !== statSync(tempDir('fs-probe')).dev;
    if (otherFs) assert.is.not(statSync(join(srcRoot, 'db/x.seg')).nlink, 2, 'across file systems nothing is linked');
  } finally {
    rmSync(srcRoot, { recursive: true, force: true });
  }
});

test('copyFrom of a missing object names the source object and leaves nothing behind', async () => {
  const staging = new FileStorage(tempDir('fs-src'));
  const root = tempDir('fs-dst');
  const dest = new FileStorage(root);
  const err = await rejects(() => dest.copyFrom(staging, 'db/gone.seg', 'pre/db/gone.seg'));
  assert.instance(err, NotFoundError);
  assert.is((err as NotFoundError).context.object, 'db/gone.seg');
  const left = readdirSync(root, { recursive: true }) as string[];
  assert.equal(left.filter((f) => f.endsWith('.seg') || f.includes('tmp')), []);
});

test('readInto fills given memory with the whole object, says when it does not fit, and names a missing one', async () => {
  const s = new FileStorage(tempDir('fs-into'));
  const bytes = randomBytes((2 << 20) + 77); // more than one read
  await s.put('db/a.seg', bytes);
  const roomy = Buffer.alloc(3 << 20, 0xee);
  assert.is(await s.readInto('db/a.seg', roomy), bytes.length);
  assert.ok(roomy.subarray(0, bytes.length).equals(bytes));
  const exact = Buffer.alloc(bytes.length);
  assert.is(await s.readInto('db/a.seg', exact), bytes.length, 'an object that fills the memory exactly fits');
  assert.ok(exact.equals(bytes));
  assert.is(await s.readInto('db/a.seg', Buffer.alloc(bytes.length - 1)), null, 'one byte too long does not fit');
  await s.put('db/empty.seg', Buffer.alloc(0));
  assert.is(await s.readInto('db/empty.seg', Buffer.alloc(16)), 0);
  const err = await rejects(() => s.readInto('db/gone.seg', roomy));
  assert.instance(err, NotFoundError);
  assert.is((err as NotFoundError).context.object, 'db/gone.seg');
});

test.run();
