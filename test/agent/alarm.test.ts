/** The alarm the capture loop and the uploader sleep on. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Alarm } from '../../agent/alarm.js';

const test = suite('alarm');

const timed = async (p: Promise<void>): Promise<number> => {
  const t0 = performance.now();
  await p;
  return performance.now() - t0;
};

test('two sleepers on one alarm each end on their own timer', async () => {
  const a = new Alarm();
  const [long, short] = await Promise.all([timed(a.sleep(300)), timed(a.sleep(50))]);
  assert.ok(short >= 45 && short < 250, `the short sleep took ${short} ms`);
  assert.ok(long >= 295, `the long sleep took ${long} ms`);
});

test('a wake ends every sleep in progress', async () => {
  const a = new Alarm();
  const both = Promise.all([timed(a.sleep(10_000)), timed(a.sleep(10_000))]);
  setTimeout(() => a.wake(), 20);
  const [x, y] = await both;
  assert.ok(x < 1000 && y < 1000, `sleeps took ${x} and ${y} ms`);
});

test('a wake while nobody sleeps ends the next sleep at once, and only that one', async () => {
  const a = new Alarm();
  a.wake();
  assert.ok((await timed(a.sleep(10_000))) < 100, 'the kept wake ended the next sleep');
  assert.ok((await timed(a.sleep(60))) >= 55, 'the one after sleeps in full');
});

test.run();
