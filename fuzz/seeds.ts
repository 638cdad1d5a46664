import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createImage, openImage } from '../src/formats/registry.js';
import { convert } from '../src/ops/convert.js';
import type { DiskImage } from '../src/formats/types.js';
import { fillPattern } from '../test/helpers/pattern-disk.js';
import { buildSeSparse, seSparseDescriptor, type SeSparseGrain } from '../test/helpers/sesparse-image.js';

/** A set of files the fuzzer mutates together: `top` is opened, the others are its parents or extents. */
export interface Seed {
  name: string;
  top: string;
  files: Map<string, Uint8Array>;
  /** For a kept mutant: the mutations that made it from its first seed. */
  steps?: string[];
}

/** Formats the harness has a target for. */
export const FUZZ_FORMATS = ['raw', 'vhd', 'vhdx', 'vmdk', 'qcow2', 'vdi'] as const;

/** One of FUZZ_FORMATS. */
export type FuzzFormat = (typeof FUZZ_FORMATS)[number];

/** Every fuzz target: each image format, the NBD server's request parsing (nbd) and the backup repository's object parsing (backup). */
export const FUZZ_TARGETS = [...FUZZ_FORMATS, 'nbd', 'backup'] as const;

/** One of FUZZ_TARGETS. */
export type FuzzTarget = (typeof FUZZ_TARGETS)[number];

/** Guest size of the generated seeds and of the NBD target's exports: small, so a mutant is cheap to copy and read. */
export const SEED_GUEST_SIZE = 4 * 1024 * 1024;

/** Per format: the `-o` options of each seed vdisk writes (small blocks, so the tables hold several entries). */
const VARIANTS: Record<FuzzFormat, Record<string, string>[]> = {
  raw: [{}],
  vhd: [{ block_size: '512K' }, { subformat: 'fixed' }],
  vhdx: [{ block_size: '1M' }],
  vmdk: [{ block_size: '64K' }, { subformat: 'twoGbMaxExtentSparse', block_size: '64K' }],
  qcow2: [{ cluster_size: '65536' }, { cluster_size: '65536', extended_l2: 'on' }],
  vdi: [{ block_size: '64K' }],
};

/** Per format: the `-o` options of seeds only `convert` writes (front to back: compressed grains and clusters). */
const CONVERTED: Partial<Record<FuzzFormat, Record<string, string>[]>> = {
  vmdk: [{ subformat: 'streamOptimized', block_size: '64K' }],
  qcow2: [{ cluster_size: '65536', compressed: 'on' }],
};

/** Formats whose seeds include a differencing child over a base. */
const DIFFERENCING: ReadonlySet<FuzzFormat> = new Set(['vhd', 'vhdx', 'vmdk', 'qcow2']);

/** Writes pattern bytes to a few spread ranges of `image`, so its tables map some blocks and leave others out; flushes and closes it. */
export async function fill(image: { virtualSize: number; writeAt(data: Uint8Array, offset: number): Promise<void>; flush(): Promise<void>; close(): Promise<void> }, seed: number): Promise<void> {
  const size = image.virtualSize;
  for (const offset of [0, 1536 * 1024, size - 64 * 1024]) {
    const data = new Uint8Array(64 * 1024);
    fillPattern(data, offset, seed);
    await image.writeAt(data, offset);
  }
  await image.flush();
  await image.close();
}

/** Converts a raw pattern disk to `format` with `options` (a layout only convert writes) and returns it as a seed. */
async function converted(format: FuzzFormat, options: Record<string, string>): Promise<Seed> {
  const dir = mkdtempSync(join(tmpdir(), 'vdisk-fuzz-seed-'));
  try {
    await fill(await createImage(join(dir, 'source.img'), 'raw', { virtualSize: SEED_GUEST_SIZE, options: {} }), 0xfeed);
    const top = `disk.${format}`;
    await convert(join(dir, 'source.img'), join(dir, top), { outputFormat: format, options });
    rmSync(join(dir, 'source.img'));
    return { name: `${format} ${Object.entries(options).map(([k, v]) => `${k}=${v}`).join(',')}`, top, files: readDir(dir) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every regular file of `dir` as a name-to-bytes map. */
function readDir(dir: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(dir).sort()) if (statSync(join(dir, name)).isFile()) files.set(name, new Uint8Array(readFileSync(join(dir, name))));
  return files;
}

/** Creates one image of `format` in a fresh directory (over a base when `differencing`) and returns it as a seed. */
async function written(format: FuzzFormat, options: Record<string, string>, differencing: boolean): Promise<Seed> {
  const dir = mkdtempSync(join(tmpdir(), 'vdisk-fuzz-seed-'));
  try {
    const ext = format === 'raw' ? 'img' : format;
    let parent: DiskImage | undefined;
    if (differencing) {
      await fill(await createImage(join(dir, `base.${ext}`), format, { virtualSize: SEED_GUEST_SIZE, options }), 0x5eed);
      parent = await openImage(join(dir, `base.${ext}`));
    }
    const top = `disk.${ext}`;
    try {
      await fill(await createImage(join(dir, top), format, { virtualSize: SEED_GUEST_SIZE, options, parent }), 0xbeef);
    } finally {
      await parent?.close();
    }
    const label = Object.entries(options).map(([k, v]) => `${k}=${v}`).join(',');
    return { name: `${format}${differencing ? ' child' : ''}${label ? ` ${label}` : ''}`, top, files: readDir(dir) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A fixture's name without a trailing .gz. */
const plain = (name: string): string => name.replace(/\.gz$/i, '');

/**
 * Images of `format` under `dir` (VDISK_REAL_FIXTURES), by extension (.gz
 * ones unpacked), up to 64 MiB each: each is a seed's top, with all the
 * others of its format beside it, so a split VMDK finds its extents and a
 * differencing VHD its parent.
 */
function realSeeds(format: FuzzFormat, dir: string | undefined): Seed[] {
  if (!dir) return [];
  const ext = format === 'raw' ? '.img' : `.${format}`;
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (!plain(name).toLowerCase().endsWith(ext) || !statSync(path).isFile() || statSync(path).size > 64 * 1024 * 1024) continue;
    const bytes = readFileSync(path);
    files.set(basename(plain(name)), new Uint8Array(name.toLowerCase().endsWith('.gz') ? gunzipSync(bytes) : bytes));
  }
  return [...files.keys()].map((top) => ({ name: `real ${top}`, top, files }));
}

/** A VMDK seed vdisk cannot write: a descriptor and its ESXi seSparse extent, with stored, zero, unmapped and unallocated grains. */
function seSparseSeed(): Seed {
  const sectors = SEED_GUEST_SIZE / 512;
  const data = (index: number, number: number): [number, SeSparseGrain] => {
    const bytes = new Uint8Array(4096);
    fillPattern(bytes, index * 4096, 0x5e5e);
    return [index, { kind: 'data', bytes, number }];
  };
  const grains = new Map<number, SeSparseGrain>([data(0, 1), data(1, 0), [2, { kind: 'zero' }], [3, { kind: 'unmapped' }], data(sectors / 8 - 1, 2)]);
  const files = new Map<string, Uint8Array>([
    ['disk.vmdk', new TextEncoder().encode(seSparseDescriptor('disk-sesparse.vmdk', sectors))],
    ['disk-sesparse.vmdk', buildSeSparse(sectors, grains)],
  ]);
  return { name: 'vmdk seSparse', top: 'disk.vmdk', files };
}

/**
 * The seeds of one format's target: small images vdisk writes (each variant,
 * the compressed layouts convert writes,
 * plus a differencing child over its base where the format has parents;
 * for VMDK a seSparse disk built by script), and the images of that format
 * (up to 64 MiB) in `realDir`.
 */
export async function seedsFor(format: FuzzFormat, realDir: string | undefined): Promise<Seed[]> {
  const seeds: Seed[] = [];
  for (const options of VARIANTS[format]) seeds.push(await written(format, options, false));
  for (const options of CONVERTED[format] ?? []) seeds.push(await converted(format, options));
  if (DIFFERENCING.has(format)) seeds.push(await written(format, VARIANTS[format][0]!, true));
  if (format === 'vmdk') seeds.push(seSparseSeed());
  return [...seeds, ...realSeeds(format, realDir)];
}
