import type { ParentRef } from '../layer.js';

/** qemu's names of backing formats where vdisk's differ (qemu calls VHD "vpc"). */
const QEMU_FORMAT_NAMES: Record<string, string> = { vpc: 'vhd' };

/** The name qemu gives vdisk's format `format` in a backing file format extension (VHD is "vpc"). */
export function qemuFormatName(format: string): string {
  return Object.entries(QEMU_FORMAT_NAMES).find(([, ours]) => ours === format)?.[0] ?? format;
}

/**
 * How a qcow2 image names its backing file ("Header", bytes 8-19; "Header
 * extensions", backing file format name): the name is the one candidate
 * path, resolved by chain/ in the image's directory or a --parent-dir. qcow2
 * records no identity of its backing file, so any image found there matches,
 * provided it has the format the extension names (when it names one). A
 * backing file of any size is accepted: past its end the guest reads zeros
 * ("Cluster mapping": "If there is no backing file or the backing file is
 * smaller than the image, they shall read zeros").
 */
export function qcow2ParentRef(name: string, format: string | undefined): ParentRef {
  const want = format === undefined ? undefined : (QEMU_FORMAT_NAMES[format] ?? format);
  return {
    candidates: [{ source: 'backing file name', path: name }],
    expected: `backing file '${name}'${format ? ` of format ${format}` : ''}`,
    identityOf: (p) => `format ${p.format}`,
    matches: (p) => want === undefined || p.format === want,
    refuseSize: () => undefined,
  };
}
