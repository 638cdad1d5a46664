import { DiskImageError } from '../errors.js';
import { detectFormat } from '../formats/registry.js';
import type { OpenOptions } from '../formats/types.js';
import { create } from './create.js';

/**
 * `vdisk snapshot BASE CHILD`: a new differencing child of BASE, in BASE's
 * format, recording BASE's identity and where to find it (VHD: W2ru and MacX
 * relative, W2ku absolute locators, the parent's UUID, time stamp and name;
 * VHDX: parent_linkage, relative_path and absolute_win32_path).
 */
export async function snapshot(base: string, child: string, opts: OpenOptions = {}): Promise<void> {
  const format = await detectFormat(base);
  if (format !== 'vhd' && format !== 'vhdx') throw new DiskImageError('UNSUPPORTED', `snapshots need a VHD or VHDX base; ${base} is ${format} (convert it first: vdisk convert -O vhdx)`);
  await create(child, { ...opts, format, backing: base });
}
