import { join } from 'node:path';
import { createImage, openImage } from '../../src/formats/registry.js';
import type { WritableDiskImage } from '../../src/formats/types.js';
import { fillPattern } from './pattern-disk.js';
import { readAll } from './images.js';

/** Writes to make in one layer: [offset, length, seed]; seed 0 writes zeros. */
export type LayerWrites = [number, number, number][];

/** Formats buildChain can make chains of. */
export type ChainFormat = 'vhd' | 'vhdx' | 'vmdk' | 'qcow2' | 'vdi';

/** Block size of each chain format's layers: VHD 512 KiB, VHDX 1 MiB (the smallest it allows), VMDK 64 KiB grains, qcow2 64 KiB clusters, VDI 1 MiB blocks. */
export const CHAIN_BLOCK_SIZE: Record<ChainFormat, number> = { vhd: 512 * 1024, vhdx: 1024 * 1024, vmdk: 64 * 1024, qcow2: 64 * 1024, vdi: 1024 * 1024 };

/** The `-o` option that sets each chain format's block size. */
const BLOCK_OPTION: Record<ChainFormat, string> = { vhd: 'block_size', vhdx: 'block_size', vmdk: 'block_size', qcow2: 'cluster_size', vdi: 'block_size' };

/**
 * Builds base.FMT and a differencing child per entry of `layers` in `dir`
 * (FMT: `format`, VHD by default with 512 KiB blocks, VHDX with 1 MiB
 * blocks, VMDK with 64 KiB grains, qcow2 with 64 KiB clusters, VDI with 1 MiB
 * blocks), applying each layer's writes; returns the paths, base first.
 */
export async function buildChain(dir: string, size: number, layers: LayerWrites[], format: ChainFormat = 'vhd'): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < layers.length; i++) {
    const path = join(dir, i === 0 ? `base.${format}` : `layer${i}.${format}`);
    await addLayer(path, paths[i - 1], size, layers[i]!, format);
    paths.push(path);
  }
  return paths;
}

/** Creates layer `path` of `format` over `parentPath` (none: a base) and makes `writes` in it. */
export async function addLayer(path: string, parentPath: string | undefined, size: number, writes: LayerWrites, format: ChainFormat): Promise<void> {
  const parent = parentPath === undefined ? undefined : await openImage(parentPath);
  const image = await createImage(path, format, { virtualSize: size, options: { [BLOCK_OPTION[format]]: String(CHAIN_BLOCK_SIZE[format]) }, parent });
  await image.close();
  await parent?.close();
  const w = (await openImage(path, { writable: true })) as WritableDiskImage;
  for (const [offset, length, seed] of writes) {
    const data = new Uint8Array(length);
    if (seed !== 0) fillPattern(data, offset, seed);
    await w.writeAt(data, offset);
  }
  await w.flush();
  await w.close();
}

/** The guest view of an image file. */
export async function viewOf(path: string, options: { ignoreParentUuid?: boolean } = {}): Promise<Buffer> {
  const image = await openImage(path, options);
  try {
    return Buffer.from(await readAll(image));
  } finally {
    await image.close();
  }
}
