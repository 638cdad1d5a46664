import { DiskImageError } from '../errors.js';
import { detectFormat, formatByName, formats } from '../formats/registry.js';
import type { OpenOptions } from '../formats/types.js';
import { create } from './create.js';

/**
 * `vdisk snapshot BASE CHILD`: a new differencing child of BASE, in BASE's
 * format (one whose descriptor says it has differencing images), recording
 * BASE's identity and where to find it as the format does.
 */
export async function snapshot(base: string, child: string, opts: OpenOptions = {}): Promise<void> {
  const format = await detectFormat(base);
  if (!formatByName(format).differencing) {
    const can = formats().filter((f) => f.differencing).map((f) => f.name);
    throw new DiskImageError('UNSUPPORTED', `snapshots need a base in a format with differencing images (${can.join(', ')}); ${base} is ${format} (convert it first: vdisk convert -O ${can[can.length - 1]})`);
  }
  await create(child, { ...opts, format, backing: base });
}
