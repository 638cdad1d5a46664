import type { Writable } from 'node:stream';
import { convertImage, type ConvertOptions, type ConvertResult } from '../ops/convert.js';
import { imageToStream } from '../ops/stream.js';
import type { DiskImage } from '../formats/types.js';
import type { StoreOptions } from './open-store.js';
import { openRepository } from './repository.js';
import { openSnapshot } from './snapshot-image.js';

/** Options of `vdisk backup restore`: the output, as convert takes it, and how to reach the repository (an S3 endpoint). */
export type RestoreOptions = Pick<ConvertOptions, 'outputFormat' | 'options' | 'target' | 'keepUuid' | 'compress' | 'replace' | 'cache' | 'onProgress' | 'signal' | 'onWarning'> & { store?: StoreOptions };

/** Opens snapshot `ref` of the repository at `location`, runs `use` on it and closes it. */
async function withSnapshot<T>(location: string, ref: string, store: StoreOptions | undefined, use: (image: DiskImage) => Promise<T>): Promise<T> {
  const image = await openSnapshot(await openRepository(location, store), ref);
  try {
    return await use(image);
  } finally {
    await image.close();
  }
}

/**
 * The output options for restoring `image`: a restore to the format the
 * snapshot was taken from keeps the source's adapter type unless `-o`
 * gives one.
 */
function keptOptions(image: DiskImage, opts: RestoreOptions): RestoreOptions {
  const specific = image.describe().formatSpecific ?? {};
  const adapterType = specific.adapterType;
  if (typeof adapterType !== 'string' || opts.outputFormat !== specific.sourceFormat || opts.options?.adapter_type !== undefined) return opts;
  return { ...opts, options: { ...opts.options, adapter_type: adapterType } };
}

/** `vdisk backup restore REPO SNAPSHOT DST`: writes the snapshot to a new DST in any format vdisk writes, as convert does. */
export function restoreToFile(location: string, ref: string, dst: string, opts: RestoreOptions): Promise<ConvertResult> {
  return withSnapshot(location, ref, opts.store, (image) => convertImage(image, dst, keptOptions(image, opts)));
}

/** `vdisk backup restore REPO SNAPSHOT -`: writes the snapshot to `stream` in file order. */
export function restoreToStream(location: string, ref: string, stream: Writable, opts: RestoreOptions): Promise<void> {
  return withSnapshot(location, ref, opts.store, (image) => imageToStream(image, stream, keptOptions(image, opts)));
}
