/** A sleep that another part of the agent can cut short. */
export class Alarm {
  private ring: (() => void) | null = null;

  /** Resolves after `ms`, or at once when `wake()` is called meanwhile. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => this.ring?.(), ms);
      this.ring = () => {
        clearTimeout(t);
        this.ring = null;
        resolve();
      };
    });
  }

  /** Ends the current sleep, if any. */
  wake(): void {
    this.ring?.();
  }
}
