import type { Range } from '../../io/byte-source.js';
import type { Layer, ParentRef, Run } from '../layer.js';
import type { Finding, ImageInfo } from '../types.js';
import { checkVmdk } from './check.js';
import { SECTOR } from './constants.js';
import { closeExtents, type OpenedExtent, type VmdkParts } from './extents.js';
import { ddbUuid, describeDescriptor } from './describe.js';

/** Allocation unit reported for a disk without sparse extents (as raw does). */
const FLAT_GRAIN = 1024 * 1024;

/** Bytes per grain of a grained (sparse or seSparse) extent, undefined for the others. */
function grainOf(e: OpenedExtent): number | undefined {
  return e.kind === 'sparse' ? e.sparse.grainBytes : e.kind === 'sesparse' ? e.se.grainBytes : undefined;
}

/** One VMDK layer (any number of flat, sparse and zero extents behind one descriptor), opened for reading. */
export class VmdkLayer implements Layer {
  readonly format = 'vmdk' as const;
  readonly path: string;
  readonly virtualSize: number;
  readonly grain: number;
  readonly warnings: string[];

  constructor(
    readonly parts: VmdkParts,
    readonly parentRef?: ParentRef,
  ) {
    this.path = parts.path;
    const last = parts.extents[parts.extents.length - 1];
    this.virtualSize = last ? last.start + last.length : 0;
    this.grain = parts.extents.map(grainOf).find((g) => g !== undefined) ?? FLAT_GRAIN;
    this.warnings = parts.warnings;
  }

  /** The descriptor's content ID, as the parentCID of a child names it (undefined without a descriptor). */
  get cid(): number | undefined {
    return this.parts.descriptor?.cid;
  }

  /** Runs of the range, extent by extent: flat extents as sparse stored runs, zero extents as zeros, sparse ones grain by grain. */
  async *map({ offset, length }: Range): AsyncIterable<Run> {
    const end = offset + length;
    for (const e of this.parts.extents) {
      const from = Math.max(offset, e.start);
      const to = Math.min(end, e.start + e.length);
      if (from >= to) continue;
      if (e.kind === 'zero') yield { kind: 'zero', offset: from, length: to - from };
      else if (e.kind === 'flat') yield { kind: 'stored', offset: from, length: to - from, source: e.file, at: e.at + from - e.start, sparse: true };
      else if (e.kind === 'sesparse') yield* e.se.map(e.start, from - e.start, to - e.start);
      else yield* e.sparse.map(e.start, from - e.start, to - e.start);
    }
  }

  files(): string[] {
    const out = [this.path];
    for (const e of this.parts.extents) if (e.kind !== 'zero' && !out.includes(e.file.path)) out.push(e.file.path);
    return out;
  }

  describe(): ImageInfo {
    const { descriptor, extents } = this.parts;
    let fileSize = this.parts.fileSize;
    for (const e of extents) if (e.kind !== 'zero' && e.file.path !== this.path) fileSize += e.file.size;
    const sparse = extents.flatMap((e) => (e.kind === 'sparse' ? [e.sparse] : []));
    return {
      filename: this.path,
      format: 'vmdk',
      subformat: descriptor?.createType,
      virtualSize: this.virtualSize,
      fileSize,
      clusterSize: extents.some((e) => grainOf(e) !== undefined) ? this.grain : undefined,
      uuid: descriptor && ddbUuid(descriptor),
      formatSpecific: {
        ...(descriptor && describeDescriptor(descriptor)),
        extents: extents.map((e) => ({
          access: e.line?.access ?? 'RW',
          type: e.line?.type ?? 'SPARSE',
          sectors: e.length / SECTOR,
          ...(e.kind !== 'zero' && { file: e.file.path }),
          ...(e.kind === 'flat' && { offset: e.at }),
          ...(e.kind === 'sparse' && {
            version: e.sparse.header.version,
            grainSize: e.sparse.grainBytes,
            compressed: e.sparse.header.compressed,
            footer: e.sparse.footerUsed,
            redundantGrainDirectory: e.sparse.redundant !== undefined,
            uncleanShutdown: e.sparse.header.uncleanShutdown,
          }),
          ...(e.kind === 'sesparse' && { grainSize: e.se.grainBytes }),
        })),
      },
      warnings: [...new Set([...this.warnings, ...sparse.flatMap((s) => s.warnings)])],
    };
  }

  check(): Promise<Finding[]> {
    return checkVmdk(this.parts);
  }

  close(): Promise<void> {
    return closeExtents(this.parts.extents);
  }
}
