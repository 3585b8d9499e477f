import { readdirSync } from 'node:fs';
import { FileStorage } from '../../core/storage/file-storage.js';
import { storageConformance } from './conformance.js';
import { tempDir } from '../helpers/tmp.js';

storageConformance('file', {
  make: async () => new FileStorage(tempDir('fs')),
});

// File-specific: a failed put or copy leaves no temp file behind; copyFrom copies byte for byte.
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

test.run();
