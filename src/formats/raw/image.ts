import { openDiskFile } from '../../io/file.js';
import type { FileOpener, ImageFile } from '../../io/image-file.js';
import { clampRange, fileExtents } from '../extents.js';
import { assertGuestRange } from '../guest-range.js';
import { preallocate, wantsPreallocation } from '../preallocation.js';
import type { Extent, Finding, ImageInfo, WritableDiskImage } from '../types.js';
import { ZERO_MIB } from '../../util/zero.js';

/** Grain reported for raw images: extents are the file's data/hole runs, reported per MiB of granularity. */
const RAW_GRAIN = 1024 * 1024;

/**
 * A raw image: the file is the disk. Extents come from the file's data/hole
 * map (SEEK_DATA/SEEK_HOLE), so holes are never read.
 */
export class RawImage implements WritableDiskImage {
  readonly format = 'raw' as const;
  readonly grain = RAW_GRAIN;
  readonly warnings: string[] = [];
  virtualSize: number;

  constructor(readonly file: ImageFile) {
    this.virtualSize = file.size;
  }

  get path(): string {
    return this.file.path;
  }

  /** Opens an existing raw file. */
  static async open(path: string, writable: boolean, openFile: FileOpener = openDiskFile): Promise<RawImage> {
    return new RawImage(await openFile(path, writable ? 'write' : 'read'));
  }

  /** Creates a sparse raw file of `size` bytes (the file must not exist). */
  static async create(path: string, size: number, options: Record<string, string>, openFile: FileOpener = openDiskFile): Promise<RawImage> {
    const full = wantsPreallocation(options, true, 'raw');
    const file = await openFile(path, 'create');
    await file.truncate(size);
    if (full) await preallocate(file, 0, size);
    return new RawImage(file);
  }

  async readAt(buf: Uint8Array, offset: number): Promise<void> {
    assertGuestRange('read', offset, buf.length, this.virtualSize);
    await this.file.read(buf, offset);
  }

  async *extents(range?: { offset: number; length: number }): AsyncIterable<Extent> {
    const { start, end } = clampRange(this.virtualSize, range);
    yield* fileExtents(this.file, start, end);
  }

  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    assertGuestRange('write', offset, data.length, this.virtualSize);
    await this.file.write(data, offset);
  }

  /**
   * Zeroes a range: holes already read as zeros and stay holes; data ranges
   * are zeroed in place by fallocate ZERO_RANGE where the file system or
   * block device can (allocation kept, so a preallocated file stays so), else
   * by writing zeros.
   */
  async writeZeroes(offset: number, length: number): Promise<void> {
    assertGuestRange('write', offset, length, this.virtualSize);
    for (const r of this.file.dataRanges(offset, length)) {
      if (await this.file.zeroRange?.(r.offset, r.length)) continue;
      for (let pos = r.offset; pos < r.offset + r.length; pos += ZERO_MIB.length) {
        await this.file.write(ZERO_MIB.subarray(0, Math.min(ZERO_MIB.length, r.offset + r.length - pos)), pos);
      }
    }
  }

  async flush(): Promise<void> {
    await this.file.sync();
  }

  describe(): ImageInfo {
    return { filename: this.path, format: 'raw', virtualSize: this.virtualSize, fileSize: this.file.size, warnings: [] };
  }

  async check(): Promise<Finding[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
