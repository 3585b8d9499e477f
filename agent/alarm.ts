/**
 * A sleep that another part of the agent can cut short. A wake that comes
 * while nobody sleeps is kept for the next sleep, which then ends at once:
 * a WAL change noticed during a capture cycle must not wait for the poll.
 */
export class Alarm {
  private ring: (() => void) | null = null;
  private woken = false;

  /** Resolves after `ms`, or at once when `wake()` was called since the last sleep ended. */
  sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(() => this.ring?.(), ms);
      this.ring = () => {
        clearTimeout(t);
        this.ring = null;
        resolve();
      };
    });
  }

  /** Ends the current sleep, or the next one if nobody sleeps now. */
  wake(): void {
    if (this.ring) this.ring();
    else this.woken = true;
  }
}
