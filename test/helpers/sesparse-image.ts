/**
 * Builds ESXi seSparse extents byte by byte, in the layout qemu reads
 * (block/vmdk.c): constant header at sector 0, volatile header at sector 1,
 * the grain directory, the grain tables (named by number, stored in reverse
 * order so the directory's indirection matters), then the grains (each at
 * the grain number the caller gives, so numbers over 4095 exercise the split
 * encoding of allocated entries). No ESXi-made seSparse is public.
 */

/** Sectors per grain and per grain table, as ESXi writes them (4 KiB grains, 4096-entry tables). */
export const SE_GRAIN_SECTORS = 8;
export const SE_TABLE_SECTORS = 64;
const SECTOR = 512;
const PER_TABLE = (SE_TABLE_SECTORS * SECTOR) / 8;

/** What one grain holds: data stored at grain `number`, zeros, or unmapped (also zeros). Grains not listed are unallocated (read from the parent). */
export type SeSparseGrain = { kind: 'data'; bytes: Uint8Array; number: number } | { kind: 'zero' } | { kind: 'unmapped' };

/** A u64 from its high and low halves, little-endian into `view` at `at`. */
function put64(view: DataView, at: number, high: number, low: number): void {
  view.setUint32(at, low, true);
  view.setUint32(at + 4, high, true);
}

/** A seSparse extent of `capacity` sectors whose grains hold `grains` (by grain index). */
export function buildSeSparse(capacity: number, grains: Map<number, SeSparseGrain>): Uint8Array {
  const grainBytes = SE_GRAIN_SECTORS * SECTOR;
  const needed = Math.ceil(capacity / (SE_GRAIN_SECTORS * PER_TABLE));
  const gdSectors = Math.max(1, Math.ceil((needed * 8) / SECTOR));
  const used = [...new Set([...grains.keys()].map((g) => Math.floor(g / PER_TABLE)))].sort((a, b) => a - b);
  const tableNumber = new Map(used.map((g, i) => [g, used.length - 1 - i]));
  const gdOffset = 2;
  const tablesOffset = gdOffset + gdSectors;
  const tablesSize = Math.max(1, used.length) * SE_TABLE_SECTORS;
  const grainsOffset = tablesOffset + tablesSize;
  const numbers = [...grains.values()].flatMap((g) => (g.kind === 'data' ? [g.number] : []));
  const grainsSize = (Math.max(-1, ...numbers) + 1) * SE_GRAIN_SECTORS;
  const buf = new Uint8Array((grainsOffset + grainsSize) * SECTOR);
  const view = new DataView(buf.buffer);
  const header: [number, number][] = [
    [0, 0xcafebabe], [0x2, 0x1], [0, capacity], [0, SE_GRAIN_SECTORS], [0, SE_TABLE_SECTORS], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0],
    [0, 1], [0, 1], [0, 0], [0, 0], [0, 0], [0, 0],
    [0, gdOffset], [0, gdSectors], [0, tablesOffset], [0, tablesSize], [0, 0], [0, 0], [0, 0], [0, 0], [0, grainsOffset], [0, grainsSize],
  ];
  header.forEach(([high, low], i) => put64(view, i * 8, high, low));
  put64(view, SECTOR, 0, 0xcafecafe);
  for (const [g, n] of tableNumber) put64(view, gdOffset * SECTOR + g * 8, 0x10000000, n);
  for (const [index, grain] of grains) {
    const table = tablesOffset + tableNumber.get(Math.floor(index / PER_TABLE))! * SE_TABLE_SECTORS;
    const at = table * SECTOR + (index % PER_TABLE) * 8;
    if (grain.kind === 'zero') put64(view, at, 0x20000000, 0);
    else if (grain.kind === 'unmapped') put64(view, at, 0x10000000, 0);
    else {
      put64(view, at, 0x30000000 | ((grain.number & 0xfff) << 16) | Math.floor(grain.number / 4096 / 2 ** 32), Math.floor(grain.number / 4096) >>> 0);
      buf.set(grain.bytes.subarray(0, grainBytes), (grainsOffset + grain.number * SE_GRAIN_SECTORS) * SECTOR);
    }
  }
  return buf;
}

/** The descriptor ESXi writes beside a seSparse extent (a snapshot's when `parent` is given: its file name and CID). */
export function seSparseDescriptor(extent: string, sectors: number, parent?: { hint: string; cid: number }): string {
  return [
    '# Disk DescriptorFile',
    'version=1',
    'encoding="UTF-8"',
    'CID=3c5a1f22',
    `parentCID=${parent ? parent.cid.toString(16) : 'ffffffff'}`,
    'createType="seSparse"',
    ...(parent ? [`parentFileNameHint="${parent.hint}"`] : []),
    '',
    '# Extent description',
    `RW ${sectors} SESPARSE "${extent}"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.adapterType = "lsilogic"',
    'ddb.virtualHWVersion = "14"',
    '',
  ].join('\n');
}
