/** qemu-img's name of each format the benchmarks convert (vdisk's vhd is qemu's vpc). */
export const QEMU_FORMAT = { raw: 'raw', vhd: 'vpc', vhdx: 'vhdx', vmdk: 'vmdk', vdi: 'vdi', qcow2: 'qcow2' } as const;

/** A format the benchmarks convert, by vdisk's name. */
export type BenchFormat = keyof typeof QEMU_FORMAT;
