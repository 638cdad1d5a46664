import type { ByteSource, Range } from '../io/byte-source.js';

/**
 * The contract between a format and everything above it (docs/architecture.md).
 * A format opens one layer and says, for any guest range, where its bytes are:
 * it never reads through to a parent itself. chain/ builds the guest view of a
 * whole chain (readAt, extents) from the layers' maps, once for every format.
 */

/** A problem found while opening or checking, with a severity that maps to `check` exit codes. */
export interface Finding {
  severity: 'corruption' | 'leak' | 'warning' | 'nonconformance';
  code: string;
  message: string;
}

/** One internal snapshot an image holds, as `vdisk info` lists it. */
export interface SnapshotInfo {
  id: string;
  name: string;
  /** The snapshot's virtual disk size in bytes. */
  virtualSize: number;
  /** When it was taken, ISO 8601 UTC. */
  date: string;
  /** Nanoseconds the guest had run when it was taken. */
  vmClockNs: number;
  /** Bytes of saved VM state (0: a disk-only snapshot). */
  vmStateSize: number;
}

/** What `vdisk info --json` prints for one layer; format-specific fields go in `formatSpecific`. */
export interface ImageInfo {
  filename: string;
  format: string;
  subformat?: string;
  virtualSize: number;
  fileSize: number;
  /** Bytes the file occupies on disk (filled in by ops/info). */
  allocatedSize?: number;
  clusterSize?: number;
  /** Bytes per sector the guest sees, where the format records it (VHDX: 512 or 4096); absent: 512. */
  logicalSectorSize?: number;
  uuid?: string;
  backingFile?: string;
  /** Internal snapshots, for formats that hold them; the guest view of one is opened with OpenOptions.snapshot. */
  snapshots?: SnapshotInfo[];
  formatSpecific?: Record<string, unknown>;
  warnings: string[];
}

/** Guest bytes this layer stores uncompressed at `at` in `source`. */
export interface StoredRun {
  kind: 'stored';
  offset: number;
  length: number;
  source: ByteSource;
  at: number;
  /**
   * Holes of `source` inside the run read as zeros and are reported as zero
   * extents (a raw file, a fixed VHD, a fully present VHDX block); without it
   * the whole run is data however the file system stores it.
   */
  sparse?: boolean;
}

/** Codecs of compressed runs: raw deflate (qcow2, windowBits -12), zlib (VMDK streamOptimized grains), one Zstandard frame (qcow2 compression_type 1). */
export type Codec = 'deflate' | 'zlib' | 'zstd';

/**
 * Guest bytes this layer stores compressed: `storedLength` bytes at `at` in
 * `source` decompress to a unit of `unitLength` bytes (a grain, a cluster),
 * of which this run is the part from `within`.
 */
export interface CompressedRun {
  kind: 'compressed';
  offset: number;
  length: number;
  source: ByteSource;
  at: number;
  storedLength: number;
  codec: Codec;
  unitLength: number;
  within: number;
}

/** Guest bytes this layer knows to be zeros (they hide the parent). */
export interface ZeroRun {
  kind: 'zero';
  offset: number;
  length: number;
}

/** Guest bytes this layer does not hold: the parent's, or zeros without one. */
export interface AbsentRun {
  kind: 'absent';
  offset: number;
  length: number;
}

/** What one layer holds for a run of the guest view. */
export type Run = StoredRun | CompressedRun | ZeroRun | AbsentRun;

/** How a child names its parent, for chain/ to find and verify it. */
export interface ParentRef {
  /** Places the child says the parent is, best first. */
  candidates: ParentCandidate[];
  /** How the child names the parent's identity, for messages ("UUID 1234-..."). */
  expected: string;
  /** The identity a candidate has, as text, or undefined when it has none of the right kind. */
  identityOf(parent: Layer): string | undefined;
  /** True when the candidate's identity is the one the child recorded. */
  matches(parent: Layer): boolean;
  /** Why a parent of `size` bytes cannot be this child's parent, or undefined when it can. */
  refuseSize(size: number): string | undefined;
  /**
   * A cheap first test on a candidate's first 4 KiB (or all of a shorter file), before it is
   * opened with its own chain: false passes it over. Formats whose
   * candidates are every file of a kind (anyWithExtension) need it, so a
   * directory of siblings is not opened chain by chain.
   */
  headMatches?(head: Uint8Array): boolean;
}


/** One place a child says its parent is, as the format stores it. */
export interface ParentCandidate {
  /** Where the candidate came from ("W2ru locator", "header parent name"). */
  source: string;
  /** The path as stored: POSIX or Windows, relative or absolute. */
  path: string;
  /** Only a file name: look for it in the allowed directories. */
  nameOnly?: boolean;
  /**
   * No name at all: every file with this extension (no dot; ANY_FILE: every
   * regular file) in the allowed directories is a candidate, and the
   * parent's identity decides (a differencing VDI records only its parent's
   * UUID).
   */
  anyWithExtension?: string;
}

/** anyWithExtension for every regular file, whatever its name. */
export const ANY_FILE = '*';

/** True when the file name `name` is one a candidate with anyWithExtension `ext` takes (case does not matter). */
export function hasExtension(name: string, ext: string): boolean {
  return ext === ANY_FILE || name.toLowerCase().endsWith(`.${ext.toLowerCase()}`);
}

/** One opened layer of a disk: its own contents, no parent logic. */
export interface Layer {
  /** The format's name, from its descriptor. */
  readonly format: string;
  /** The path or URL the layer was opened from. */
  readonly path: string;
  readonly virtualSize: number;
  /** Allocation unit in bytes (VHD block, raw: 1 MiB for extent reporting). */
  readonly grain: number;
  /** Problems noticed while opening that did not stop reading. */
  readonly warnings: string[];
  /**
   * The runs covering [range.offset, range.offset+range.length) exactly, in
   * offset order (the range lies inside the disk).
   */
  map(range: Range): AsyncIterable<Run>;
  /** How this layer names its parent; absent for a layer without one. */
  readonly parentRef?: ParentRef;
  /** Every file the layer reads (extents, descriptors), for info, locks and output refusal. */
  files(): string[];
  /** What `info` prints for this layer; the chain adds the backing file. */
  describe(): ImageInfo;
  /** Structural check of this layer. */
  check(): Promise<Finding[]>;
  close(): Promise<void>;
}

/**
 * A layer open for writing. Writes come aligned to `writeUnit` (chain/ does
 * the read-modify-write around unaligned ones, through the whole chain).
 */
export interface WritableLayer extends Layer {
  /** Writes must start and end on multiples of this (or end at the disk's end). */
  readonly writeUnit: number;
  writeAt(data: Uint8Array, offset: number): Promise<void>;
  /** Makes [offset, offset+length) read as zeros (aligned to writeUnit, or ending at the disk's end). */
  writeZeroes(offset: number, length: number): Promise<void>;
  /** Writes all metadata and fsyncs: after this the file is a complete, valid image. */
  flush(): Promise<void>;
  /** Makes `parent` this layer's parent (rebase). */
  setParent?(parent: Layer): Promise<void>;
  /** See WritableDiskImage.upcomingIdentity. */
  readonly upcomingIdentity?: Uint8Array;
  /** Accepts `identity` as its parent's (`parent`), besides the current one. */
  acceptParentIdentity?(identity: Uint8Array, parent: Layer): Promise<void>;
  /** See WritableDiskImage.refreshParentLink. */
  refreshParentLink?(parent: Layer): Promise<void>;
}
