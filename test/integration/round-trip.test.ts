/** The round trip of test/scenarios/round-trip.ts to a local folder. */
import { suite } from 'uvu';
import { roundTrip } from '../scenarios/round-trip.js';

const test = suite('round trip');
test('every recorded state restores bit-exact by timestamp and by txid; latest equals the final state', () => roundTrip());
test.run();
