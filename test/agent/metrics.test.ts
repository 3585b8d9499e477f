import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generationReasonClass, rpoSeconds } from '../../agent/metrics.js';
import { combineHooks } from '../../agent/combine-hooks.js';

const test = suite('metrics helpers');

test('RPO is the lag of the slowest destination the policy needs', () => {
  assert.is(rpoSeconds([3, 0.5, 10], 'all'), 10);
  assert.is(rpoSeconds([3, 0.5, 10], { quorum: 1 }), 0.5);
  assert.is(rpoSeconds([3, 0.5, 10], { quorum: 2 }), 3);
  assert.is(rpoSeconds([], 'all'), 0);
});

test('generation reasons fold into a few label values', () => {
  assert.is(generationReasonClass('no previous backup of this database: nothing recorded yet'), 'first');
  assert.is(generationReasonClass('the database file was replaced: database differs from the recorded state'), 'file_replaced');
  assert.is(generationReasonClass('the WAL restarted while the agent held no read transaction: x'), 'wal_restarted');
  assert.is(generationReasonClass('something new'), 'other');
});

test('a listener that throws does not stop the others', () => {
  const seen: string[] = [];
  const h = combineHooks(
    { onCaptureError: () => { throw new Error('boom'); } },
    { onCaptureError: (db) => void seen.push(db) },
  );
  h.onCaptureError!('app', 'x');
  assert.equal(seen, ['app']);
});

test.run();
