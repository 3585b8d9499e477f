/** Assertions uvu lacks. */
import * as assert from 'uvu/assert';

/**
 * Awaits `fn` and asserts it rejects; `expect` is a pattern the message must
 * match, or a predicate on the error. Returns the error.
 */
export async function rejects(fn: () => Promise<unknown>, expect?: RegExp | ((err: unknown) => boolean)): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    if (expect instanceof RegExp) assert.match(String((err as Error)?.message ?? err), expect);
    else if (expect) assert.ok(expect(err), `unexpected error: ${String(err)}`);
    return err;
  }
  assert.unreachable('expected a rejection');
  return undefined;
}
