/**
 * Webhook notifications: a JSON POST to each configured URL when a
 * destination starts failing or recovers, a new generation starts, or a
 * restore drill fails. Each webhook has its own small queue with retries,
 * never awaited by capture: a slow or failing webhook holds up neither
 * capture nor the other webhooks. URLs may hold
 * tokens, so only their host is ever logged.
 */
import { hostname } from 'node:os';
import type { AgentConfig } from '../core/config.js';
import type { Logger } from './logger.js';
import type { ReplicatorHooks } from './replicator-hooks.js';

/** What is POSTed. */
export interface Notification {
  event: 'destination_failing' | 'destination_recovered' | 'generation_started' | 'restore_drill_failed';
  db: string;
  destination?: string;
  detail: string;
  at: string;
  host: string;
}

const MAX_QUEUE = 1000;
const ATTEMPTS = 4;

/** Sends notifications to the configured webhooks. */
export class Notifier {
  private readonly queues = new Map<string, { items: { body: string; attempt: number }[]; sending: boolean }>();
  private readonly failing = new Set<string>();
  readonly hooks: ReplicatorHooks;

  constructor(
    private readonly config: Readonly<AgentConfig>,
    private readonly log: Logger,
  ) {
    this.hooks = {
      onUploadError: (db, destination, _key, reason) => {
        const k = `${db}\n${destination}`;
        if (this.failing.has(k)) return;
        this.failing.add(k);
        this.notify({ event: 'destination_failing', db, destination, detail: reason });
      },
      onDestinationRecovered: (db, destination) => {
        if (!this.failing.delete(`${db}\n${destination}`)) return;
        this.notify({ event: 'destination_recovered', db, destination, detail: 'uploads succeed again' });
      },
      onGeneration: (db, generation, reason) => this.notify({ event: 'generation_started', db, detail: `${generation}: ${reason}` }),
    };
  }

  /** Queues a notification for every webhook that wants this event. */
  notify(n: Omit<Notification, 'at' | 'host'>): void {
    const body = JSON.stringify({ ...n, at: new Date().toISOString(), host: hostname() });
    for (const w of this.config.notifications.webhooks) {
      if (w.events && !w.events.includes(n.event)) continue;
      let q = this.queues.get(w.url);
      if (!q) this.queues.set(w.url, (q = { items: [], sending: false }));
      if (q.items.length >= MAX_QUEUE) q.items.shift();
      q.items.push({ body, attempt: 0 });
      void this.pump(w.url);
    }
  }

  private async pump(url: string): Promise<void> {
    const q = this.queues.get(url)!;
    if (q.sending) return;
    q.sending = true;
    try {
      for (let item = q.items.shift(); item; item = q.items.shift()) {
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': 'walcast-agent' },
            body: item.body,
            signal: AbortSignal.timeout(this.config.notifications.timeoutMs),
          });
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
        } catch (err) {
          const host = new URL(url).host;
          if (++item.attempt < ATTEMPTS) {
            setTimeout(() => {
              q.items.push(item!);
              void this.pump(url);
            }, 500 * 2 ** item.attempt).unref();
          } else {
            this.log.warn({ webhook: host, err: (err as Error).message }, 'webhook notification failed; giving up on it');
          }
        }
      }
    } finally {
      q.sending = false;
    }
  }
}
