import { openDiskFile } from '../../io/file.js';
import type { FileOpener, ImageFile } from '../../io/image-file.js';
import type { Range } from '../../io/byte-source.js';
import type { Run, WritableLayer } from '../layer.js';
import { preallocate, wantsPreallocation } from '../preallocation.js';
import type { Finding, ImageInfo } from '../types.js';
import { ZERO_MIB } from '../../util/zero.js';

/** Grain reported for raw images: extents are the file's data/hole runs, reported per MiB of granularity. */
const RAW_GRAIN = 1024 * 1024;

/**
 * A raw image: the file is the disk, one sparse stored run, so extents come
 * from the file's data/hole map (SEEK_DATA/SEEK_HOLE) and holes are never read.
 */
export class RawLayer implements WritableLayer {
  readonly format = 'raw' as const;
  readonly grain = RAW_GRAIN;
  readonly writeUnit = 1;
  readonly warnings: string[] = [];
  virtualSize: number;

  constructor(readonly file: ImageFile) {
    this.virtualSize = file.size;
  }

  get path(): string {
    return this.file.path;
  }

  /** Opens an existing raw file. */
  static async open(path: string, writable: boolean, openFile: FileOpener = openDiskFile): Promise<RawLayer> {
    return new RawLayer(await openFile(path, writable ? 'write' : 'read'));
  }

  /** Creates a sparse raw file of `size` bytes (the file must not exist). */
  static async create(path: string, size: number, options: Record<string, string>, openFile: FileOpener = openDiskFile): Promise<RawLayer> {
    const full = wantsPreallocation(options, true, 'raw');
    const file = await openFile(path, 'create');
    await file.truncate(size);
    if (full) await preallocate(file, 0, size);
    return new RawLayer(file);
  }

  async *map({ offset, length }: Range): AsyncIterable<Run> {
    yield { kind: 'stored', offset, length, source: this.file, at: offset, sparse: true };
  }

  files(): string[] {
    return [this.path];
  }

  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    await this.file.write(data, offset);
  }

  /**
   * Zeroes a range: holes already read as zeros and stay holes; data ranges
   * are zeroed in place by fallocate ZERO_RANGE where the file system or
   * block device can (allocation kept, so a preallocated file stays so), else
   * by writing zeros.
   */
  async writeZeroes(offset: number, length: number): Promise<void> {
    for (const r of await this.file.dataRanges(offset, length)) {
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
