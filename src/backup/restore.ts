import type { Writable } from 'node:stream';
import { convertImage, type ConvertOptions, type ConvertResult } from '../ops/convert.js';
import { imageToStream } from '../ops/stream.js';
import type { DiskImage } from '../formats/types.js';
import { openRepository } from './repository.js';
import { openSnapshot } from './snapshot-image.js';

/** Options of `vdisk backup restore`: the output, as convert takes it. */
export type RestoreOptions = Pick<ConvertOptions, 'outputFormat' | 'options' | 'target' | 'keepUuid' | 'compress' | 'replace' | 'cache' | 'onProgress' | 'signal' | 'onWarning'>;

/** Opens snapshot `ref` of the repository in `repoDir`, runs `use` on it and closes it. */
async function withSnapshot<T>(repoDir: string, ref: string, use: (image: DiskImage) => Promise<T>): Promise<T> {
  const image = await openSnapshot(await openRepository(repoDir), ref);
  try {
    return await use(image);
  } finally {
    await image.close();
  }
}

/** `vdisk backup restore REPO SNAPSHOT DST`: writes the snapshot to a new DST in any format vdisk writes, as convert does. */
export function restoreToFile(repoDir: string, ref: string, dst: string, opts: RestoreOptions): Promise<ConvertResult> {
  return withSnapshot(repoDir, ref, (image) => convertImage(image, dst, opts));
}

/** `vdisk backup restore REPO SNAPSHOT -`: writes the snapshot to `stream` in file order. */
export function restoreToStream(repoDir: string, ref: string, stream: Writable, opts: RestoreOptions): Promise<void> {
  return withSnapshot(repoDir, ref, (image) => imageToStream(image, stream, opts));
}
