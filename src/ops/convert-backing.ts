import { DiskImageError } from '../errors.js';
import { createImage, formatByName, openImage } from '../formats/registry.js';
import type { DiskImage, OpenOptions, WritableDiskImage } from '../formats/types.js';
import { openDirectDiskFile, openDiskFile } from '../io/file.js';
import type { CopyStats, ProgressFn } from '../engine/copy.js';
import { copyDifferences } from './differences.js';
import { checkOutputPath, commitOutput, discardOutput, tempPathFor } from './output-file.js';
import { outputPlan, type OutputRequest } from './output-plan.js';
import { profileByName } from '../targets/profiles.js';

/** What convertOverBacking needs of `vdisk convert`'s options (convert.ts ConvertOptions has them all). */
export interface BackingConvertOptions extends OpenOptions, OutputRequest {
  /** The existing image DST becomes a child of. */
  backing: string;
  existing?: boolean;
  replace?: boolean;
  /** `-t`: 'none' writes with O_DIRECT where it can. */
  cache?: string;
  onProgress?: ProgressFn;
}

/**
 * `convert -B BACKING`, as `qemu-img convert -B`: DST becomes a new
 * differencing child of the existing image BACKING (its chain opened as
 * usual) holding only the 64 KiB pieces where SRC's guest view differs
 * from BACKING's, so BACKING + DST reads as SRC. The output format must have
 * differencing images and BACKING SRC's size. Written beside DST under a
 * temporary name and renamed when complete, like every convert.
 */
export async function convertOverBacking(src: string, dst: string, opts: BackingConvertOptions): Promise<CopyStats & { virtualSize: number }> {
  if (opts.existing || opts.replace || opts.keepUuid) throw new DiskImageError('USAGE', '-B makes a new child: -n, --replace and --keep-uuid do not apply');
  const source = await openImage(src, { ...opts, writable: false });
  let base: DiskImage | undefined;
  let target: WritableDiskImage | undefined;
  let temp: string | undefined;
  try {
    base = await openImage(opts.backing, { parentDirs: opts.parentDirs, onWarning: opts.onWarning, openFile: opts.openFile });
    const { format, options } = outputPlan(src, source, opts);
    if (opts.target && !profileByName(opts.target)?.chains) throw new DiskImageError('USAGE', `--target ${opts.target} takes single images, not differencing children: leave out -B`);
    if (!formatByName(format).differencing) throw new DiskImageError('USAGE', `-B needs an output format with differencing images; ${format} has none`);
    if (base.virtualSize !== source.virtualSize) throw new DiskImageError('USAGE', `-B ${opts.backing} holds ${base.virtualSize} bytes, ${src} ${source.virtualSize}: a child has its backing's size`);
    checkOutputPath(dst, [source, base]);
    temp = tempPathFor(dst);
    const openFile = opts.cache === 'none' ? openDirectDiskFile : openDiskFile;
    target = await createImage(temp, format, { virtualSize: source.virtualSize, options, parent: base, finalPath: dst, openFile });
    base = undefined;
    const dataBytes = await copyDifferences(target, source, target.parent!, opts.onProgress);
    await target.flush();
    await target.close();
    target = undefined;
    await commitOutput(temp, dst);
    temp = undefined;
    return { virtualSize: source.virtualSize, dataBytes, writtenBytes: dataBytes };
  } finally {
    await target?.close();
    await base?.close();
    if (temp) await discardOutput(temp);
    await source.close();
  }
}
