import type { Range } from '../../io/byte-source.js';
import type { ImageFile } from '../../io/image-file.js';
import type { Layer, ParentRef, Run } from '../layer.js';
import { coalesce } from '../runs.js';
import type { Finding, ImageInfo } from '../types.js';
import { BlockMap } from './block-map.js';
import { checkVdi } from './check.js';
import { describeVdi } from './describe.js';
import type { VdiHeader } from './header.js';

/** One VDI image opened for reading: its header and block array. */
export class VdiLayer implements Layer {
  readonly format = 'vdi' as const;
  readonly path: string;
  readonly virtualSize: number;
  readonly grain: number;

  constructor(
    readonly file: ImageFile,
    readonly header: VdiHeader,
    readonly blocks: BlockMap,
    readonly warnings: string[],
    readonly parentRef?: ParentRef,
  ) {
    this.path = file.path;
    this.virtualSize = header.diskSize;
    this.grain = header.blockSize;
  }

  map(range: Range): AsyncIterable<Run> {
    return coalesce(this.blocks.map(range));
  }

  files(): string[] {
    return [this.path];
  }

  describe(): ImageInfo {
    return describeVdi(this.path, this.header, this.file.size, BlockMap.countAllocated(this.blocks.entries), this.warnings);
  }

  async check(): Promise<Finding[]> {
    return checkVdi(this.blocks, this.file.size);
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
