import type { StreamPiece } from '../engine/stream-plan.js';
import type { FileOpener } from '../io/image-file.js';
import type { MemoryFile } from '../io/memory-file.js';

/**
 * The interfaces every format implements (DESIGN.md, "Core interfaces").
 * engine/ and ops/ see formats only through these and the registry.
 */

/** Names of the formats vdisk knows (some only to recognise and refuse, for now). */
export type FormatName = 'raw' | 'vhd' | 'vhdx' | 'vmdk' | 'qcow2' | 'vdi';

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

/** A problem found while opening or checking, with a severity that maps to `check` exit codes. */
export interface Finding {
  severity: 'corruption' | 'leak' | 'warning' | 'nonconformance';
  code: string;
  message: string;
}

/** What `vdisk info --json` prints for one layer; format-specific fields go in `formatSpecific`. */
export interface ImageInfo {
  filename: string;
  format: FormatName;
  subformat?: string;
  virtualSize: number;
  fileSize: number;
  /** Bytes the file occupies on disk (filled in by ops/info). */
  allocatedSize?: number;
  clusterSize?: number;
  uuid?: string;
  backingFile?: string;
  formatSpecific?: Record<string, unknown>;
  warnings: string[];
}

/** An opened image: the guest view of this layer through its chain. */
export interface DiskImage {
  readonly format: FormatName;
  readonly path: string;
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

/** An image that can be written. Writes are in the guest view; flush makes them durable. */
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

/** What the registry knows of a format. */
export interface FormatDescriptor {
  readonly name: FormatName;
  /** True when the file looks like this format (cheap, reads a few sectors). */
  probe(head: Uint8Array, tail: Uint8Array, fileSize: number): boolean;
  /** Opens an image, resolving parents through `chain`. */
  open?(path: string, options: OpenOptions, chain: ChainContext): Promise<DiskImage>;
  /** Creates a new empty image at `path` (the file must not exist). */
  create?(path: string, options: CreateOptions): Promise<WritableDiskImage>;
  /** Fixes what can be fixed without guessing (`check --repair`); returns what changed, throws CORRUPT to refuse. */
  repair?(path: string, openFile?: FileOpener): Promise<string[]>;
  /**
   * Size of the file `convert` would write for a source of `virtualSize` whose
   * non-zero 64 KiB runs are `nonZero` (sorted, merged), and the bytes it writes.
   */
  measure?(virtualSize: number, options: Record<string, string>, nonZero: { start: number; end: number }[]): Measurement;
  /**
   * The image in output order for a pipe: `image` is an empty image of the
   * output's size and options created in `file` (memory); `nonZero` the
   * source's non-zero runs. Formats without it cannot be streamed.
   */
  streamPlan?(image: WritableDiskImage, file: MemoryFile, nonZero: { start: number; end: number }[]): StreamPiece[];
  /**
   * Changes the virtual size in place (`vdisk resize`); the size is rounded up
   * to the format's unit. Crash-safe: every intermediate state opens with the
   * old or the new contents.
   */
  resize?(path: string, newSize: number, options: ResizeOptions): Promise<ResizeResult>;
  /** Drops all-zero allocated blocks and gives their space back, in place and crash-safely (`vdisk compact`). */
  compact?(path: string, options: OpenOptions): Promise<{ blocksDropped: number }>;
  /** Option names `create` accepts, for a clear usage error. */
  readonly createOptions?: readonly string[];
}

/** Where an image sits in the chain being opened, and how to open the next layer down. */
export interface ChainContext {
  /** 0 for the image the user named, 1 for its parent, ... */
  depth: number;
  /** Real paths of the layers opened so far (loop detection). */
  visited: Set<string>;
  /** Opens a parent file found by chain/resolve.ts (format probed, read-only). */
  openParent(path: string): Promise<DiskImage>;
}
