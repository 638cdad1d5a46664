import type { DiskImage, WritableDiskImage } from '../formats/types.js';
import { ZERO_MIB } from '../util/zero.js';
import { allocationDescriptors, type StatusDescriptor } from './block-status.js';
import {
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_DF,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
} from './constants.js';
import { RwLock } from './rw-lock.js';

/**
 * One export: an image's guest view under a name, shared by every
 * connection that selects it. All connections go through this one object
 * and its one image, so a flush on any connection covers the writes of all
 * of them; that is what lets it advertise NBD_FLAG_CAN_MULTI_CONN (proto.md,
 * "Transmission flags"). Reads run together; writes, zeroing and flushes
 * run one at a time (RwLock).
 */
export class NbdExport {
  private readonly lock = new RwLock();

  constructor(
    readonly name: string,
    readonly image: DiskImage,
    /** The image, when this export takes writes. */
    private readonly target?: WritableDiskImage,
  ) {}

  get size(): number {
    return this.image.virtualSize;
  }

  get writable(): boolean {
    return this.target !== undefined;
  }

  /** The transmission flags (proto.md, "Transmission flags"): DF only with structured replies, write commands only when writable. */
  transmissionFlags(structured: boolean): number {
    let flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_CAN_MULTI_CONN;
    flags |= this.target ? NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES : NBD_FLAG_READ_ONLY;
    if (structured) flags |= NBD_FLAG_SEND_DF;
    return flags;
  }

  read(buf: Uint8Array, offset: number): Promise<void> {
    return this.lock.read(() => this.image.readAt(buf, offset));
  }

  /** base:allocation descriptors of a range (at most `limit`). */
  blockStatus(offset: number, length: number, limit: number): Promise<StatusDescriptor[]> {
    return this.lock.read(() => allocationDescriptors(this.image, offset, length, limit));
  }

  /** Writes `data`; with `fua`, durable before it resolves. */
  write(data: Uint8Array, offset: number, fua: boolean): Promise<void> {
    return this.exclusive(fua, (t) => t.writeAt(data, offset));
  }

  /**
   * Makes a range read as zeros. With `noHole` (NBD_CMD_FLAG_NO_HOLE,
   * proto.md "Command flags") zeros are written as data, so the range stays
   * provisioned; otherwise the layer may drop or punch it.
   */
  writeZeroes(offset: number, length: number, fua: boolean, noHole: boolean): Promise<void> {
    return this.exclusive(fua, async (t) => {
      if (!noHole) return t.writeZeroes(offset, length);
      for (let pos = offset; pos < offset + length; pos += ZERO_MIB.length) {
        await t.writeAt(ZERO_MIB.subarray(0, Math.min(ZERO_MIB.length, offset + length - pos)), pos);
      }
    });
  }

  /**
   * NBD_CMD_TRIM, a hint the server MAY act on (proto.md, "Request types").
   * Without a parent, zeroing gives the space back (raw files punch holes,
   * dynamic formats skip unallocated blocks); over a parent it would store
   * zeros to hide the parent's data, costing space, so it does nothing.
   */
  trim(offset: number, length: number, fua: boolean): Promise<void> {
    if (this.image.parent) return Promise.resolve();
    return this.exclusive(fua, (t) => t.writeZeroes(offset, length));
  }

  /** Makes every completed write durable (a read-only export has none). */
  flush(): Promise<void> {
    const t = this.target;
    return t ? this.lock.write(() => t.flush()) : Promise.resolve();
  }

  private exclusive(fua: boolean, fn: (target: WritableDiskImage) => Promise<void>): Promise<void> {
    const t = this.target!;
    return this.lock.write(async () => {
      await fn(t);
      if (fua) await t.flush();
    });
  }
}
