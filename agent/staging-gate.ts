/**
 * Whether staging can take another segment. Capture pauses while the bytes
 * staged exceed `staging.maxBytes` (the WAL keeps what waits); the pause is
 * logged once, and every check while it lasts is reported.
 */
import type { Logger } from './logger.js';
import type { Staging } from './staging.js';

/** The staging limit of one database. */
export class StagingGate {
  /** True while staging was full at the last check. */
  full = false;

  constructor(
    private readonly staging: Staging,
    private readonly maxBytes: number,
    private readonly log: Logger,
    /** Hears every check while staging is full, and the first after it drained. */
    private readonly onCheck: (full: boolean) => void,
  ) {}

  /** Checks the bytes staged now; true while staging is full. */
  check(): boolean {
    const full = this.staging.bytes > this.maxBytes;
    if (full && !this.full) this.log.error({ stagedBytes: this.staging.bytes, hint: 'check destination health; the WAL stays pinned until uploads catch up' }, 'staging is full; capture paused');
    if (full || this.full) this.onCheck(full);
    this.full = full;
    return full;
  }
}
