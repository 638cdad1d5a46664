import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImage } from '../formats/registry.js';
import type { WritableDiskImage } from '../formats/types.js';
import { demoPatch, writeDemoDisk } from './demo-disk.js';
import { formatSize } from '../util/sizes.js';
import { check } from './check.js';
import { compare } from './compare.js';
import { convert } from './convert.js';
import { create } from './create.js';
import { info } from './info.js';
import { map } from './map.js';

const MiB = 1024 * 1024;

async function timed<T>(say: (line: string) => void, what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  say(`  ${what} (${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms)`);
  return r;
}

async function onDisk(path: string): Promise<string> {
  const st = await stat(path);
  return `${formatSize(st.size)} file, ${formatSize(st.blocks * 512)} on disk`;
}

/**
 * `vdisk demo`: generates a 1 GiB sparse raw disk, converts it to dynamic and
 * fixed VHD and back, makes a differencing child, and checks every step by
 * comparing guest contents. Works in a temporary directory it removes.
 */
export async function demo(say: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vdisk-demo-'));
  try {
    const raw = join(dir, 'disk.raw');
    const blocks = await writeDemoDisk(raw, 1024 * MiB, 2 * MiB);
    say(`1. Generated ${raw}: 1 GiB raw disk, ${blocks} of 512 blocks of 2 MiB written (${await onDisk(raw)})`);

    const dyn = join(dir, 'disk.vhd');
    await timed(say, `2. raw -> dynamic VHD ${dyn} (${blocks * 2} MiB of data copied)`, () => convert(raw, dyn, { outputFormat: 'vhd' }));
    const [d] = await info(dyn);
    say(`   ${d!.subformat} VHD, virtual ${formatSize(d!.virtualSize)}, ${String(d!.formatSpecific?.allocatedBlocks)} blocks allocated, ${await onDisk(dyn)}`);

    const fixed = join(dir, 'disk-fixed.vhd');
    await timed(say, '3. dynamic VHD -> fixed VHD', () => convert(dyn, fixed, { outputFormat: 'vhd', options: { subformat: 'fixed' } }));
    say(`   ${await onDisk(fixed)} (sparse; the footer is the last 512 bytes)`);

    const child = join(dir, 'child.vhd');
    await create(child, { format: 'vhd', backing: dyn });
    const image = (await openImage(child, { writable: true })) as WritableDiskImage;
    await image.writeAt(demoPatch(64 * 1024), 5 * MiB + 4096);
    await image.flush();
    await image.close();
    const layers = (await map(child)).filter((e) => e.kind === 'data');
    say(`4. Differencing child ${child}: wrote 64 KiB inside block 2; guest view has ${layers.length} data extents, depths ${[...new Set(layers.map((e) => e.depth))].join(' and ')}`);

    const back = join(dir, 'back.raw');
    await timed(say, '5. child (through its parent) -> raw', () => convert(child, back, { outputFormat: 'raw' }));

    for (const [a, b] of [
      [raw, dyn],
      [dyn, fixed],
      [child, back],
    ] as const) {
      const r = await compare(a, b);
      say(`6. compare ${a.slice(dir.length + 1)} ${b.slice(dir.length + 1)}: ${r.identical ? 'identical' : `DIFFER at ${r.mismatchOffset}`}`);
      if (!r.identical) throw new Error('demo: conversion changed the guest contents');
    }
    const r = await compare(raw, back);
    say(`   compare disk.raw back.raw: ${r.identical ? 'identical (unexpected!)' : `differ at ${r.mismatchOffset}, where the child wrote`}`);
    for (const p of [dyn, fixed, child]) {
      const c = await check(p);
      say(`7. check ${p.slice(dir.length + 1)}: ${c.result}`);
    }
    say('Done: every conversion kept the guest contents byte for byte.');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
