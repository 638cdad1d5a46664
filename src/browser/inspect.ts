import { DiskImageError } from '../errors.js';
import { openChain } from '../chain/open-chain.js';
import { qcow2ReadFormat } from '../formats/qcow2/read-format.js';
import { vdiReadFormat } from '../formats/vdi/read-format.js';
import { vhdReadFormat } from '../formats/vhd/read-format.js';
import { vhdxReadFormat } from '../formats/vhdx/read-format.js';
import { vmdkReadFormat } from '../formats/vmdk/read-format.js';
import type { DiskImage, Finding, ImageInfo } from '../formats/types.js';
import { resultOf } from '../ops/check-result.js';
import { applyProfile, type RuleResult } from '../targets/apply-profile.js';
import { PROFILES } from '../targets/profiles.js';
import { allocationCells, type MapView } from './allocation-map.js';
import { readCompressedInBrowser } from './inflate.js';
import { PickedFiles } from './picked-files.js';

/** How many cells the allocation map cuts the disk into (64 × 64). */
export const MAP_CELLS = 4096;

/** The formats the browser build reads, in the CLI's probe order (formats/registry.ts): every one but raw, each through its read-format.ts. */
export const BROWSER_FORMATS = [vhdxReadFormat, vhdReadFormat, vmdkReadFormat, qcow2ReadFormat, vdiReadFormat];

/** One hypervisor profile applied to the image (as `vdisk check --target <profile>`). */
export interface TargetVerdict {
  profile: string;
  ok: boolean;
  rules: RuleResult[];
}

/** What the page shows of the picked files: the top image's chain, its check, and every profile's verdict; or one coded error line. */
export type Inspection =
  | {
      ok: true;
      /** `vdisk info --chain`: the top image first, then each parent. */
      chain: ImageInfo[];
      check: { result: string; findings: Finding[] };
      targets: TargetVerdict[];
      /** The whole guest view in MAP_CELLS cells (browser/allocation-map.ts): each a data depth, ZERO or UNALLOCATED. */
      map: MapView;
    }
  | {
      ok: false;
      /** The CLI's line without its "vdisk: " prefix: message and (CODE). */
      error: string;
    };

/**
 * The line the CLI prints for an error (cli/report.ts), without "vdisk: ".
 * A file none of BROWSER_FORMATS recognises is told that the page reads only
 * those (the CLI would read it as raw, or as a format the page lacks).
 */
export function errorLine(err: unknown): string {
  if (!(err instanceof DiskImageError)) throw err;
  if (err.code === 'INVALID_FORMAT' && 'probed' in err.details) {
    return `${err.details.path}: not a VHD, VHDX, VMDK, qcow2 or VDI image; this page reads only those (the vdisk command reads raw disks too) (UNSUPPORTED)`;
  }
  return `${err.describe()} (${err.code})`;
}

/** Opens `name` with its chain among the picked files. */
function openPicked(files: PickedFiles, name: string): Promise<DiskImage> {
  return openChain(name, { writable: false }, { formats: BROWSER_FORMATS, openFile: files.open, resolveParent: files.resolveParent, resolveBeside: files.resolveBeside, decode: readCompressedInBrowser }, 0, new Set([name]));
}

/** How many files the chain `name` opens to reads (every layer's, with VMDK extents), or -1 when it does not open. */
async function chainFiles(files: PickedFiles, name: string): Promise<number> {
  const image = await openPicked(files, name).catch(() => undefined);
  if (!image) return -1;
  let count = 0;
  for (let l: DiskImage | undefined = image; l; l = l.parent) count += l.layer.files().length;
  await image.close();
  return count;
}

/**
 * The top image among the picked files: the one whose chain reads the most
 * of them (a child names its parents, a VMDK descriptor its extents; no
 * parent names its child, no extent its descriptor), the first picked on a
 * tie or when none opens (so its error is the one shown).
 */
async function topOf(files: PickedFiles): Promise<string> {
  let best = files.names[0]!;
  let bestCount = -1;
  for (const name of files.names) {
    const count = files.names.length === 1 ? 0 : await chainFiles(files, name);
    if (count > bestCount) [best, bestCount] = [name, count];
  }
  return best;
}

/**
 * The `check` of an open image: its findings (the top image's), the result
 * they sum to, every profile's rules, and its allocation map. The profiles
 * see the size of the picked file itself, `fileSize` (as
 * targets/check-target.ts sees the named file's), not the size with a VMDK's
 * extents that info gives.
 */
async function checked(image: DiskImage, fileSize: number): Promise<Inspection> {
  const chain: ImageInfo[] = [];
  for (let l: DiskImage | undefined = image; l; l = l.parent) chain.push(l.describe());
  const findings = await image.check();
  const targets = PROFILES.map((p): TargetVerdict => {
    const rules = applyProfile(p, { ...chain[0]!, fileSize });
    return { profile: p.name, ok: rules.every((r) => r.ok), rules };
  });
  return { ok: true, chain, check: { result: resultOf(findings), findings }, targets, map: await allocationCells(image, MAP_CELLS) };
}

/**
 * Opens the top image among picked files, with its chain (parents looked for
 * among them by name); `INVALID_FORMAT` and the like as thrown by the
 * formats. The caller closes it.
 */
export async function openTop(picked: { name: string; blob: Blob }[]): Promise<DiskImage> {
  if (picked.length === 0) throw new DiskImageError('USAGE', 'no file picked');
  const files = new PickedFiles(picked);
  return openPicked(files, await topOf(files));
}

/**
 * Inspects picked files as `vdisk info --chain`, `vdisk check` and `vdisk
 * check --target <each profile>` do: the top image is found among them, its
 * parents are looked for among them by name. A structure too broken to open
 * is shown as the CLI shows it: one line with its error code.
 */
export async function inspect(picked: { name: string; blob: Blob }[]): Promise<Inspection> {
  try {
    const image = await openTop(picked);
    try {
      return await checked(image, picked.findLast((p) => p.name === image.path)!.blob.size);
    } finally {
      await image.close();
    }
  } catch (err) {
    return { ok: false, error: errorLine(err) };
  }
}

/** The part of the guest view of the top image among picked files from `offset` for `length` bytes in MAP_CELLS cells: the map zoomed in. */
export async function mapOf(picked: { name: string; blob: Blob }[], offset: number, length: number): Promise<MapView> {
  const image = await openTop(picked);
  try {
    return await allocationCells(image, MAP_CELLS, offset, length);
  } finally {
    await image.close();
  }
}
