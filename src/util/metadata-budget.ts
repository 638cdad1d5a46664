/**
 * The metadata budget of one opened image file (issue 20): a format charges
 * it before it allocates a table whose size a header field sets (a BAT, an
 * L1 table, a snapshot table, a replayed log), so that the tables of one
 * image together stay under METADATA_BUDGET however each stays under its own
 * limit. Caches of a fixed size are not charged: their bound does not depend
 * on the file.
 */
import { DiskImageError } from '../errors.js';
import { limitNote, METADATA_BUDGET } from '../limits.js';

/** Bytes of metadata one image file holds, refused past METADATA_BUDGET with an `UNSUPPORTED` error that names METADATA_BUDGET. */
export class MetadataBudget {
  private held = 0;

  /** `path` names the image in errors. */
  constructor(readonly path: string) {}

  /** Bytes charged and not released. */
  get used(): number {
    return this.held;
  }

  /** Charges `bytes` for `what` (a table, for the message), or throws when the total would pass the limit; nothing is charged then. */
  charge(bytes: number, what: string): void {
    if (this.held + bytes > METADATA_BUDGET) {
      throw new DiskImageError('UNSUPPORTED', `${this.path}: ${what} of ${bytes} bytes would bring the metadata held for this image to ${this.held + bytes} bytes, more than ${METADATA_BUDGET} (${limitNote('METADATA_BUDGET', METADATA_BUDGET)})`, {
        path: this.path,
        field: what,
        value: bytes,
        limit: METADATA_BUDGET,
      });
    }
    this.held += bytes;
  }

  /** Gives back `bytes` charged earlier, once the table they paid for is dropped. */
  release(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }

  /** Runs `use` (one operation, such as a check), then releases whatever it charged: its tables are dropped when it ends. All lasting charges happen at open, so none can fall inside. */
  async transient<T>(use: () => Promise<T>): Promise<T> {
    const before = this.held;
    try {
      return await use();
    } finally {
      this.held = Math.min(this.held, before);
    }
  }
}
