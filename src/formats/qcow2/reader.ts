import type { Range } from '../../io/byte-source.js';
import type { Layer, ParentRef, Run } from '../layer.js';
import type { Finding, ImageInfo } from '../types.js';
import { checkQcow2 } from './check.js';
import type { ClusterMap } from './cluster-map.js';
import { describeQcow2 } from './describe.js';
import type { Qcow2Parts } from './parts.js';

/** One qcow2 image (its active L1 table, or a snapshot's), opened for reading. */
export class Qcow2Layer implements Layer {
  readonly format = 'qcow2' as const;
  readonly path: string;
  readonly virtualSize: number;
  readonly grain: number;
  readonly warnings: string[];

  constructor(
    readonly parts: Qcow2Parts,
    readonly clusters: ClusterMap,
    readonly parentRef?: ParentRef,
  ) {
    this.path = parts.path;
    this.virtualSize = clusters.o.virtualSize;
    this.grain = clusters.clusterSize;
    this.warnings = parts.warnings;
  }

  map(range: Range): AsyncIterable<Run> {
    return this.clusters.map(range);
  }

  files(): string[] {
    return this.parts.dataFile ? [this.path, this.parts.dataFile.path] : [this.path];
  }

  describe(): ImageInfo {
    return describeQcow2(this.parts, this.virtualSize, this.warnings);
  }

  check(): Promise<Finding[]> {
    return checkQcow2(this.parts);
  }

  async close(): Promise<void> {
    await this.parts.dataFile?.close();
    await this.parts.file.close();
  }
}
