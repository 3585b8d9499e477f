/** The crash loop of test/scenarios/crash.ts with a local-folder destination. */
import { suite } from 'uvu';
import { crashLoop } from '../scenarios/crash.js';

const test = suite('crash');
test('20 SIGKILLs under continuous writes lose no transaction', () => crashLoop());
test.run();
