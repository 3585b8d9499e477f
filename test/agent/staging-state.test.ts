// The capture state in staging: two slots overwritten in turn, the newest whole one read back; a torn write
// loses only the state being written; sequence numbers may wrap; an earlier version's state.json is read until the first new write.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Staging, type CaptureState } from '../../agent/staging.js';
import { tempDir } from '../helpers/tmp.js';
import { rejects } from '../helpers/assert.js';

const test = suite('staging state');

function state(txid: number): CaptureState {
  return {
    version: 1, db: 'app', generation: '0000019a1b2c3d4e5f607182', txid, checksum: txid.toString(16).padStart(16, '0'),
    dbPages: 100 + txid, pageSize: 4096, prevSha256: 'ab'.repeat(32), wal: { salt1: 7, salt2: 9, checkpointSeq: 3, pageSize: 4096, bigEndian: false, frame: txid * 3, checksum1: 1, checksum2: 2 },
    observedAtMs: 1_700_000_000_000 + txid, lastSnapshot: { txid: 0, atMs: 1_700_000_000_000 },
  };
}

async function opened(dir: string): Promise<Staging> {
  const s = new Staging(dir);
  await s.init('app');
  return s;
}

test('the newest state written is the one read back, by a later agent too', async () => {
  const dir = tempDir('state');
  const a = await opened(dir);
  assert.is(await a.readState(), null, 'nothing written yet');
  for (let txid = 1; txid <= 5; txid++) await a.writeState(state(txid));
  await a.unlock();
  const b = await opened(dir);
  assert.equal(await b.readState(), state(5));
  await b.writeState(state(6));
  await b.writeState(state(7));
  await b.unlock();
  const c = await opened(dir);
  assert.equal(await c.readState(), state(7));
  await c.unlock();
});

test('a torn write spoils only its own slot: the state before it is read, and the next write leaves that one alone', async () => {
  const dir = tempDir('state');
  const a = await opened(dir);
  await a.writeState(state(1)); // sequence 1: slot 1
  await a.writeState(state(2)); // sequence 2: slot 0
  await a.unlock();
  const file = join(dir, 'capture-state');
  const bytes = readFileSync(file);
  bytes[4096 * 0 + 60] ^= 0x20; // inside slot 0's JSON
  writeFileSync(file, bytes);
  const b = await opened(dir);
  assert.equal(await b.readState(), state(1), 'the state before the torn write');
  await b.writeState(state(3));
  await b.unlock();
  const after = readFileSync(file);
  assert.ok(after.subarray(4096, 8192).equals(bytes.subarray(4096, 8192)), 'the whole slot was not overwritten');
  const c = await opened(dir);
  assert.equal(await c.readState(), state(3));
  await c.unlock();
  // Both slots spoiled: no state (the agent then resumes from its destinations).
  const spoiled = readFileSync(file);
  spoiled[60] ^= 1;
  spoiled[4096 + 60] ^= 1;
  writeFileSync(file, spoiled);
  const d = await opened(dir);
  assert.is(await d.readState(), null);
  await d.unlock();
});

test('sequence numbers may wrap: 0 is newer than 2^32 - 1', async () => {
  const dir = tempDir('state');
  const a = await opened(dir);
  await a.writeState(state(1)); // slot 1
  await a.writeState(state(2)); // slot 0
  await a.unlock();
  const file = join(dir, 'capture-state');
  const bytes = readFileSync(file);
  bytes.writeUInt32BE(0xffffffff, 4096 + 4); // slot 1, holding state 1
  bytes.writeUInt32BE(0, 4); // slot 0, holding state 2
  writeFileSync(file, bytes);
  const b = await opened(dir);
  assert.equal(await b.readState(), state(2));
  await b.writeState(state(3)); // sequence 1: slot 1, over the older state
  await b.unlock();
  const c = await opened(dir);
  assert.equal(await c.readState(), state(3));
  await c.unlock();
});

test('an earlier version\'s state.json is read until the first write, which removes it', async () => {
  const dir = tempDir('state');
  const a = await opened(dir);
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state(41)));
  assert.equal(await a.readState(), state(41));
  await a.writeState(state(42));
  assert.not.ok(existsSync(join(dir, 'state.json')));
  await a.unlock();
  const b = await opened(dir);
  assert.equal(await b.readState(), state(42));
  await b.unlock();
});

test('a state too large for a slot is refused, naming its size, and the state before it stays', async () => {
  const dir = tempDir('state');
  const a = await opened(dir);
  await a.writeState(state(1));
  const err = await rejects(() => a.writeState({ ...state(2), generation: 'g'.repeat(5000) }));
  assert.match((err as Error).message, /capture state of \d+ bytes does not fit/);
  assert.equal(await a.readState(), state(1));
  await a.unlock();
});

test.run();
