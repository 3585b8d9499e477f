import { readdirSync } from 'node:fs';
import { FileStorage } from '../../core/storage/file-storage.js';
import { storageConformance } from './conformance.js';
import { tempDir } from '../helpers/tmp.js';

storageConformance('file', {
  make: async () => new FileStorage(tempDir('fs')),
});

// File-specific: a failed put or copy leaves no temp file behind; copyFrom copies byte for byte;
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
