/**
 * A sleep that another part of the agent can cut short. Several may sleep on
 * one alarm at once (the uploader's two lanes); a wake ends every sleep in
 * progress. A wake that comes while nobody sleeps is kept for the next
 * sleep, which then ends at once: a WAL change noticed during a capture
 * cycle must not wait for the poll.
 */
export class Alarm {
  private readonly sleepers = new Set<() => void>();
  private woken = false;

  /** Resolves after `ms`, or at once when `wake()` was called since the last sleep ended. */
  sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const ring = (): void => {
        clearTimeout(t);
        this.sleepers.delete(ring);
        resolve();
      };
      const t = setTimeout(ring, ms);
      this.sleepers.add(ring);
    });
  }

  /** Ends every sleep in progress, or the next one if nobody sleeps now. */
  wake(): void {
    if (!this.sleepers.size) {
      this.woken = true;
      return;
    }
    for (const ring of [...this.sleepers]) ring();
  }
}
