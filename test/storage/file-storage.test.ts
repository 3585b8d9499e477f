import { readdirSync } from 'node:fs';
import { FileStorage } from '../../core/storage/file-storage.js';
import { storageConformance } from './conformance.js';
import { tempDir } from '../helpers/tmp.js';

storageConformance('file', {
  make: async () => new FileStorage(tempDir('fs')),
});

// File-specific: a failed put leaves no temp file behind.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rejects } from '../helpers/assert.js';
import { Readable } from 'node:stream';

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
test.run();
