/**
 * Helpers for the resize and compact tests: images built from a list of
 * writes, a raw model of the expected guest view, a compact description of a
 * guest view that works for huge sparse disks, and power-cut replay.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createImage, openImage } from '../../src/formats/registry.js';
import type { FileOpener } from '../../src/io/image-file.js';
import { check } from '../../src/ops/check.js';
import { fillPattern } from './pattern-disk.js';
import { isAllZero } from '../../src/util/zero.js';
import { Recorder, crashStates, materialise, snapshot } from './fault-file.js';
import { needTools, qemuInfo, run } from './oracles.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Writes to make: [offset, length, seed]; seed 0 writes zeros (which allocates blocks). */
export type Writes = [number, number, number][];

/** Creates `path` as `format` with `options` and applies `writes`. */
export async function makeImage(path: string, format: string, size: number, options: Record<string, string>, writes: Writes): Promise<string> {
  const image = await createImage(path, format, { virtualSize: size, options });
  try {
    for (const [offset, length, seed] of writes) {
      const data = new Uint8Array(length);
      if (seed !== 0) fillPattern(data, offset, seed);
      await image.writeAt(data, offset);
    }
    await image.flush();
  } finally {
    await image.close();
  }
  return path;
}

/** What `vdisk info` says of the image's format-specific fields. */
export async function formatSpecificOf(path: string): Promise<Record<string, unknown>> {
  const image = await openImage(path);
  try {
    return image.describe().formatSpecific ?? {};
  } finally {
    await image.close();
  }
}

/** A sparse raw file of `size` bytes holding the non-zero writes: the expected guest view. */
export function rawModel(path: string, size: number, writes: Writes): string {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const [offset, length, seed] of writes) {
      if (offset >= size) continue;
      const data = new Uint8Array(Math.min(length, size - offset));
      if (seed !== 0) fillPattern(data, offset, seed);
      writeSync(fd, data, 0, data.length, offset);
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

/** A guest view in brief: its size and the hash of every non-zero 64 KiB piece (zero pieces left out). */
export interface View {
  size: number;
  pieces: string[];
}

/** The View of an image file (reads only its data extents, so a 200 GiB sparse disk is quick). */
export async function viewOf(path: string, format?: string): Promise<View> {
  const image = await openImage(path, { format });
  try {
    const pieces: string[] = [];
    const buf = new Uint8Array(64 * KiB);
    for await (const e of image.extents()) {
      if (e.kind !== 'data') continue;
      for (let pos = Math.floor(e.offset / buf.length) * buf.length; pos < e.offset + e.length; pos += buf.length) {
        const piece = buf.subarray(0, Math.min(buf.length, image.virtualSize - pos));
        await image.readAt(piece, pos);
        const entry = `${pos}:${createHash('sha1').update(piece).digest('hex')}`;
        if (!isAllZero(piece) && pieces[pieces.length - 1] !== entry) pieces.push(entry);
      }
    }
    return { size: image.virtualSize, pieces };
  } finally {
    await image.close();
  }
}

/** The View of the model of `size` bytes holding `writes`. */
export async function modelView(dir: string, name: string, size: number, writes: Writes): Promise<View> {
  return viewOf(rawModel(join(dir, name), size, writes), 'raw');
}

/** Asserts `vdisk check` finds the image clean, or (`leaksAllowed`: qcow2 after a power cut) no worse than leaking. */
export async function assertClean(path: string, what = path, leaksAllowed = false): Promise<void> {
  const report = await check(path);
  const fine = report.result === 'clean' || (leaksAllowed && report.result === 'leaks');
  assert.ok(fine, `${what}: ${report.result} ${JSON.stringify(report.findings)} ${report.error ?? ''}`);
}

/** qemu's name for a vdisk format. */
const QEMU_FORMAT: Record<string, string> = { raw: 'raw', vhd: 'vpc', vhdx: 'vhdx', qcow2: 'qcow2', vdi: 'vdi' };

/**
 * What qemu-img sees: its virtual size, `qemu-img check` for VHDX, qcow2 and VDI (vpc
 * and raw have no check), and `qemu-img compare` with the raw model.
 */
export function qemuAgrees(t: TestContext, path: string, format: string, size: number, model: string): void {
  if (!needTools(t, 'qemu-img')) return;
  const f = QEMU_FORMAT[format]!;
  assert.equal(qemuInfo(path, f)['virtual-size'], size, `qemu-img info virtual size of ${path}`);
  if (format === 'vhdx' || format === 'qcow2' || format === 'vdi') run('qemu-img', ['check', '-f', format, path]);
  run('qemu-img', ['compare', '-f', f, '-F', 'raw', path, model]);
}

/** The outcome of a power-cut replay. */
export interface Replay {
  states: number;
}

/**
 * Runs `op` on `path` through a Recorder, checks the result is `after`, then
 * replays every crash state: each must open and read as `before` or `after`,
 * and running `op` again on it must give `after` and a clean check (with
 * `leaksAllowed`, leaks pass: a qcow2 cut leaves leaked clusters by design).
 */
export async function replayPowerCuts(dir: string, path: string, op: (path: string, openFile?: FileOpener) => Promise<unknown>, before: View, after: View, leaksAllowed = false): Promise<Replay> {
  const initial = snapshot([path]);
  const rec = new Recorder();
  await op(path, rec.opener);
  assert.deepEqual(await viewOf(path), after, 'the operation gives the new view');
  assert.ok(rec.events.some((e) => e.kind === 'sync'), 'the operation flushed');
  let n = 0;
  for (const state of crashStates(initial, rec.events)) {
    const at = await materialise(state, join(dir, `state${n++}`));
    const p = at.get(path)!;
    let seen: View;
    try {
      seen = await viewOf(p);
    } catch (err) {
      throw new Error(`${state.description}: the image does not open: ${(err as Error).message}`);
    }
    const old = seen.size === before.size && JSON.stringify(seen) === JSON.stringify(before);
    const now = seen.size === after.size && JSON.stringify(seen) === JSON.stringify(after);
    assert.ok(old || now, `${state.description}: the view is neither the old (${before.size} bytes) nor the new (${after.size}); got ${seen.size} bytes, ${seen.pieces.length} pieces`);
    await op(p);
    assert.deepEqual(await viewOf(p), after, `re-running finishes (${state.description})`);
    await assertClean(p, state.description, leaksAllowed);
  }
  return { states: n };
}
