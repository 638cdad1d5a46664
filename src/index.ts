/** vdisk's public API. */
export { DiskImageError, type ErrorCode } from './errors.js';
export type { DiskImage, WritableDiskImage, Extent, ExtentKind, ImageInfo, Finding, FormatDescriptor, OpenOptions, CreateOptions } from './formats/types.js';
export type { Layer, WritableLayer, Run, ParentRef } from './formats/layer.js';
export type { ByteSource } from './io/byte-source.js';
export { openImage, createImage, detectFormat, formats } from './formats/registry.js';
export { parseSize, formatSize } from './util/sizes.js';
