import { DiskImageError } from '../errors.js';
import { createImage, formatByName, openImage } from '../formats/registry.js';
import type { DiskImage, OpenOptions } from '../formats/types.js';
import type { CopyStats, ProgressFn } from '../engine/copy.js';
import { copyDifferences } from './differences.js';
import { checkOutputPath, writeNewOutput } from './output-file.js';
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
 * differencing images. The child has BACKING's size, which must be SRC's,
 * or SRC's rounded up to the --target profile's unit (as convert --target
 * wrote BACKING): past SRC's end the child then reads as zeros, as the tail
 * of a rounded disk does. Written beside DST under a temporary name and
 * renamed when complete, like every convert.
 */
export async function convertOverBacking(src: string, dst: string, opts: BackingConvertOptions): Promise<CopyStats & { virtualSize: number }> {
  if (opts.existing || opts.replace || opts.keepUuid) throw new DiskImageError('USAGE', '-B makes a new child: -n, --replace and --keep-uuid do not apply');
  const source = await openImage(src, { ...opts, writable: false });
  let base: DiskImage | undefined;
  try {
    base = await openImage(opts.backing, { parentDirs: opts.parentDirs, onWarning: opts.onWarning, openFile: opts.openFile });
    const { format, options, virtualSize: rounded, warnings } = outputPlan(src, source, opts);
    for (const w of warnings) opts.onWarning?.(w);
    if (opts.target && !profileByName(opts.target)?.chains) throw new DiskImageError('USAGE', `--target ${opts.target} takes single images, not differencing children: leave out -B`);
    if (!formatByName(format).differencing) throw new DiskImageError('USAGE', `-B needs an output format with differencing images; ${format} has none`);
    const size = childSize(base.virtualSize, source.virtualSize, rounded, { src, ...opts });
    checkOutputPath(dst, [source, base]);
    const parent = base;
    const dataBytes = await writeNewOutput(dst, opts.cache, async (out) => {
      out.image = await createImage(out.temp, format, { virtualSize: size, options, parent, finalPath: dst, openFile: out.openFile });
      base = undefined;
      return copyDifferences(out.image, source, out.image.parent!, opts.onProgress);
    });
    if (size !== source.virtualSize) opts.onWarning?.(`${dst}: a child has its backing's size; the disk was rounded up to ${size} bytes (${size - source.virtualSize} more, read as zeros)`);
    return { virtualSize: size, dataBytes, writtenBytes: dataBytes };
  } finally {
    await base?.close();
    await source.close();
  }
}

/**
 * The child's size: `baseSize`, when it is SRC's size `srcSize` or that
 * rounded up to the --target profile's unit (`rounded`); USAGE otherwise.
 */
function childSize(baseSize: number, srcSize: number, rounded: number, names: { src: string; backing: string; target?: string }): number {
  if (baseSize === srcSize || baseSize === rounded) return baseSize;
  const expected = rounded === srcSize ? `${srcSize}` : `${srcSize}, or ${rounded} as --target ${names.target} rounds it up`;
  throw new DiskImageError('USAGE', `-B ${names.backing} holds ${baseSize} bytes, but a child has its backing's size and ${names.src} needs ${expected}`, { path: names.backing, value: baseSize });
}
