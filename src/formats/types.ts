import type { FileOpener } from '../io/image-file.js';
import type { BesideResolver } from '../chain/resolve-context.js';
import type { Finding, ImageInfo, Layer, WritableLayer } from './layer.js';
import type { ByteSink, SequentialWriter, StreamLayout } from './sequential.js';

export type { Finding, ImageInfo, SnapshotInfo } from './layer.js';

/**
 * The interfaces generic code sees (docs/architecture.md): the guest view of a chain, and the descriptor each format registers.
 * engine/ and ops/ see formats only through these and the registry.
 */

/**
 * What a range of the guest view holds. `data`: bytes stored in some layer;
 * `zero`: known zeros; `unallocated`: not stored in this layer (reads from the
 * parent, or zeros when there is none).
 */
export type ExtentKind = 'data' | 'zero' | 'unallocated';

/** A run of the guest view; `depth` is the layer it comes from (0 = the image itself). */
export interface Extent {
  offset: number;
  length: number;
  kind: ExtentKind;
  depth: number;
}

/** An opened image: the guest view of a layer through its chain (built by chain/ChainImage). */
export interface DiskImage {
  readonly format: string;
  readonly path: string;
  /** The top layer, as its format opened it. */
  readonly layer: Layer;
  readonly virtualSize: number;
  /** Allocation unit in bytes (VHD block, raw: 1 MiB for extent reporting). */
  readonly grain: number;
  readonly parent?: DiskImage;
  /** Problems noticed while opening that did not stop reading (bad checksum, footer copy used, ...). */
  readonly warnings: string[];
  /** Fills buf with the guest view at `offset` (offset + buf.length must lie within virtualSize). */
  readAt(buf: Uint8Array, offset: number): Promise<void>;
  /**
   * Allocation extents over `range` (default: the whole disk), in offset order, adjacent
   * runs of one kind and depth merged. `own` reports this layer only (no parent lookups).
   */
  extents(range?: { offset: number; length: number }, own?: boolean): AsyncIterable<Extent>;
  describe(): ImageInfo;
  /** Structural check of this layer only. */
  check(): Promise<Finding[]>;
  close(): Promise<void>;
}

/** An image that can be written. Writes are in the guest view; flush makes them durable (close without flush drops what the last flush did not cover, as a power cut would). */
export interface WritableDiskImage extends DiskImage {
  writeAt(data: Uint8Array, offset: number): Promise<void>;
  /** Makes [offset, offset+length) read as zeros. */
  writeZeroes(offset: number, length: number): Promise<void>;
  /** Writes all metadata and fsyncs: after this the file is a complete, valid image. */
  flush(): Promise<void>;
  /** Makes `parent` this image's parent (rebase); formats without parents lack it. Reopen to read through the new parent. */
  setParent?(parent: DiskImage): Promise<void>;
  /**
   * The identity this image takes once its data changes in this open, when
   * writing data changes it (VHDX: the next DataWriteGuid); children must be
   * told first (acceptParentIdentity) or they lose their link.
   */
  readonly upcomingIdentity?: Uint8Array;
  /** Accepts `identity` as its parent's, besides the current one (VHDX: parent_linkage2). */
  acceptParentIdentity?(identity: Uint8Array): Promise<void>;
  /**
   * Re-records what this child notes about `parent` that changes with the
   * parent's data but is not its identity (VHD: the parent's modification
   * time, "Parent Time Stamp" in the dynamic header), after a commit into it.
   */
  refreshParentLink?(parent: DiskImage): Promise<void>;
}

/** Options shared by every open. */
export interface OpenOptions {
  /** Open for writing (in-place operations). */
  writable?: boolean;
  /** Extra directories a parent may live in (the child's own directory is always allowed). */
  parentDirs?: string[];
  /** Accept a parent whose UUID does not match the child's record of it. */
  ignoreParentUuid?: boolean;
  /** Called with each warning as it arises (the CLI prints them to stderr). */
  onWarning?: (message: string) => void;
  /** Real paths of parents to open writable (commit writes into an ancestor). */
  writableParents?: string[];
  /** How files are opened (default: DiskFile with OFD locks; tests inject faults here). */
  openFile?: FileOpener;
  /** Where files an image names beside itself are found (default: chain/resolve.ts resolveBeside, in the image's directory). */
  resolveBeside?: BesideResolver;
  /**
   * Open this internal snapshot's guest view (by ID or name) instead of the
   * current one: the image named only, never its parents; USAGE for a format
   * without internal snapshots.
   */
  snapshot?: string;
}

/** Options for creating an image: size plus format-specific `-o` options. */
export interface CreateOptions {
  virtualSize: number;
  /** `-o key=value` options, already split. */
  options: Record<string, string>;
  /** Differencing: the parent image, opened. */
  parent?: DiskImage;
  /** How the new file is created (default: DiskFile). */
  openFile?: FileOpener;
  /** The disk's UUID as text (`--keep-uuid`); a new random one when absent. */
  uuid?: string;
  /**
   * The path the image will have when done, when it is created under
   * another (convert writes a temporary file and renames it): formats that
   * record their own file name record this one.
   */
  finalPath?: string;
}

/** Options of an in-place resize (`vdisk resize`). */
export interface ResizeOptions extends OpenOptions {
  /** Allow a smaller size (refused anyway when the range cut off holds a non-zero byte). */
  shrink?: boolean;
}

/** What a resize did: the guest-visible sizes before and after (after: rounded up to the format's unit). */
export interface ResizeResult {
  oldSize: number;
  newSize: number;
}

/** What `vdisk measure` reports. */
export interface Measurement {
  /** Exact size of the output file. */
  fileSize: number;
  /** Bytes the output writes (metadata and non-zero data); the file system may round up. */
  allocatedBytes: number;
}

/**
 * What the registry knows of a format: everything it can do is declared
 * here, in the format's own folder, so help text, usage checks and the
 * contract tests come from the descriptors and generic code names no format.
 */
export interface FormatDescriptor {
  /** The name used with -f and -O; defined here, not in a list elsewhere. */
  readonly name: string;
  /** One line for help text: what the format is and who uses it. */
  readonly summary: string;
  /** File name extension, without the dot. */
  readonly extension: string;
  /** True when it can be a differencing child of a parent (snapshot, commit, rebase). */
  readonly differencing: boolean;
  /**
   * The block size values it takes (bytes), when it has blocks: the
   * smallest and the default. Contract tests use the smallest.
   */
  readonly blockSizes?: { readonly min: number; readonly default: number };
  /** The `-o` option that sets the block size, when not `block_size` (qcow2: `cluster_size`). */
  readonly blockSizeOption?: string;
  /** The `-o` option that sets the sector size its guests see (ImageInfo.logicalSectorSize); formats without it show 512-byte sectors. */
  readonly sectorSizeOption?: string;
  /** True when its images hold internal snapshots that OpenOptions.snapshot can open. */
  readonly internalSnapshots?: boolean;
  /** True when stdin can carry it (its bytes in guest order, probed after spooling). */
  readonly pipeInput?: boolean;
  /**
   * True when, with these options, where its data goes depends on where the
   * source's data is, so a pipe-to-pipe conversion must see all of it first.
   */
  layoutFollowsData?(options: Record<string, string>): boolean;
  /** True when the file looks like this format (cheap, reads a few sectors). */
  probe(head: Uint8Array, tail: Uint8Array, fileSize: number): boolean;
  /** Opens one layer (writable when `options.writable`); chain/ opens its parent from `parentRef`. */
  open?(path: string, options: OpenOptions): Promise<Layer>;
  /** Creates a new empty layer at `path` (the file must not exist), over `options.parent` when given. */
  create?(path: string, options: CreateOptions): Promise<WritableLayer>;
  /** Fixes what can be fixed without guessing (`check --repair`); returns what changed, throws CORRUPT to refuse. */
  repair?(path: string, openFile?: FileOpener): Promise<string[]>;
  /**
   * Size of the file `convert` would write for a source of `virtualSize` whose
   * non-zero 64 KiB runs are `nonZero` (sorted, merged), and the bytes it writes.
   */
  measure?(virtualSize: number, options: Record<string, string>, nonZero: { start: number; end: number }[]): Measurement;
  /**
   * A writer of this format in file order, to `sink` (a pipe): it is told the
   * output's size, options and the source's non-zero spans first, then given
   * the data in guest order. Formats without it cannot be streamed.
   */
  sequentialWriter?(sink: ByteSink, layout: StreamLayout): Promise<SequentialWriter>;
  /**
   * True when, with these options, the format can only be written front to
   * back (its grains compressed as they come): convert then writes the file
   * through `sequentialWriter`, and `create` refuses it.
   */
  frontToBackOnly?(options: Record<string, string>): boolean;
  /** The `-o` options that make its output compressed, which `convert -c` adds; formats without it cannot write compressed data. */
  readonly compressOptions?: Readonly<Record<string, string>>;
  /**
   * Changes the virtual size in place (`vdisk resize`); the size is rounded up
   * to the format's unit. Crash-safe: every intermediate state opens with the
   * old or the new contents.
   */
  resize?(path: string, newSize: number, options: ResizeOptions): Promise<ResizeResult>;
  /** Drops all-zero allocated blocks and gives their space back, in place and crash-safely (`vdisk compact`). */
  compact?(path: string, options: OpenOptions): Promise<{ blocksDropped: number }>;
  /** Option names `create` accepts, for a clear usage error and for help. */
  readonly createOptions?: readonly string[];
}
