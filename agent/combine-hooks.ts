/**
 * Fans one stream of replicator events out to several listeners (metrics,
 * notifications). A listener that throws is contained, so it can never break
 * capture.
 */
import type { ReplicatorHooks } from './replicator-hooks.js';

/** One ReplicatorHooks that calls each of `listeners` in turn. */
export function combineHooks(...listeners: ReplicatorHooks[]): ReplicatorHooks {
  const out: Record<string, (...args: unknown[]) => void> = {};
  const names = new Set(listeners.flatMap((l) => Object.keys(l)));
  for (const name of names) {
    out[name] = (...args: unknown[]) => {
      for (const l of listeners) {
        const fn = (l as Record<string, ((...a: unknown[]) => void) | undefined>)[name];
        try {
          fn?.(...args);
        } catch {
          // listeners must not disturb capture
        }
      }
    };
  }
  return out as ReplicatorHooks;
}
