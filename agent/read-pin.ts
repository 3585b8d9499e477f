/**
 * What the agent's held read pins in the WAL, as far as positions tell
 * (capture rules 1 and 3). SQLite does not say which frame a read begins at,
 * so it is bounded from the looks around it: a read pins no frame past the
 * end of the first whole look begun after it started, since every frame it
 * pins was in the WAL file by then. Pure bookkeeping: the replicator moves
 * the read and reports here.
 */
import type { WalPosition } from '../core/wal-scanner.js';

/** Positions of one database's held read. */
export class ReadPin {
  /** Where the cursor stood when the read last moved forward. */
  private movedAt: WalPosition | null = null;
  /** The end of the first whole look after read `serial` began. */
  private bound: { serial: number; end: WalPosition } | null = null;
  /**
   * Where the WAL stood when it was last copied back whole (behind the
   * barrier), while no read has moved since. A read begun there gets read
   * mark 0 from SQLite, which blocks any copying back: the application's
   * autocheckpoint then sorts the whole WAL's frame index on every commit,
   * only to fail (a quarter of a flat-out writer's time, measured). So the
   * read moves as soon as commits follow, and not before: it would only
   * begin on mark 0 again.
   */
  private copiedBackAt: WalPosition | null = null;

  /** A look that reached the committed end, begun while read `serial` was held, ended at `end`. */
  looked(serial: number, end: WalPosition): void {
    if (this.bound?.serial !== serial) this.bound = { serial, end };
  }

  /** The read moved forward with the cursor at `cursor`. */
  moved(cursor: WalPosition | null): void {
    this.movedAt = cursor;
    this.copiedBackAt = null;
  }

  /** The WAL was copied back whole up to `cursor`, and the read begun again there. */
  copiedBack(cursor: WalPosition | null): void {
    this.copiedBackAt = cursor;
  }

  /** True while the read began on a WAL copied back whole (see copiedBackAt). */
  get onCopiedBackWal(): boolean {
    return this.copiedBackAt !== null;
  }

  /** False when a read begun now would sit where the last whole copy back left the WAL. */
  worthMoving(cursor: WalPosition | null): boolean {
    const at = this.copiedBackAt;
    return !(at && cursor && samePosition(at, cursor));
  }

  /** About how many observed frames the read is behind `cursor`. */
  framesBehind(cursor: WalPosition | null): number {
    const h = this.movedAt;
    return !cursor ? 0 : h?.salt1 === cursor.salt1 ? cursor.frame - h.frame : cursor.frame;
  }

  /**
   * True when read `serial` pins only frames up to `stagedFrame` of the WAL
   * `cursor` is in: copying back up to it then loses nothing if the agent dies.
   */
  onlyStaged(serial: number, cursor: WalPosition | null, stagedFrame: number): boolean {
    const b = this.bound;
    if (!b || b.serial !== serial || !cursor || b.end.salt1 !== cursor.salt1 || b.end.salt2 !== cursor.salt2) return false;
    return b.end.frame <= stagedFrame;
  }
}

function samePosition(a: WalPosition, b: WalPosition): boolean {
  return a.salt1 === b.salt1 && a.salt2 === b.salt2 && a.frame === b.frame;
}
