/** vdisk's public API. */
export { DiskImageError, type ErrorCode } from './errors.js';
export type { DiskImage, WritableDiskImage, Extent, ExtentKind, ImageInfo, Finding, FormatName, OpenOptions, CreateOptions } from './formats/types.js';
export { openImage, createImage, detectFormat } from './formats/registry.js';
export { parseSize, formatSize } from './util/sizes.js';
