import { DiskImageError } from '../errors.js';
import { openChain } from '../chain/open-chain.js';
import { vhdReadFormat } from '../formats/vhd/read-format.js';
import { vhdxReadFormat } from '../formats/vhdx/read-format.js';
import type { DiskImage, Finding, ImageInfo } from '../formats/types.js';
import { resultOf } from '../ops/check-result.js';
import { applyProfile, type RuleResult } from '../targets/apply-profile.js';
import { PROFILES } from '../targets/profiles.js';
import { allocationCells } from './allocation-map.js';
import { PickedFiles } from './picked-files.js';

/** How many cells the allocation map cuts the disk into (64 × 64). */
export const MAP_CELLS = 4096;

/** The formats the browser build reads: those whose readers reach no node module (more follow as their readers are split from their writers). */
export const BROWSER_FORMATS = [vhdxReadFormat, vhdReadFormat];

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
      /** The guest view in MAP_CELLS cells (browser/allocation-map.ts): each a data depth, ZERO or UNALLOCATED. */
      map: { cells: number[]; cellBytes: number };
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
    return `${err.details.path}: not a VHD or VHDX; this page reads only those so far (the vdisk command reads raw, VMDK, qcow2 and VDI too) (UNSUPPORTED)`;
  }
  return `${err.describe()} (${err.code})`;
}

/** Opens `name` with its chain among the picked files. */
function openPicked(files: PickedFiles, name: string): Promise<DiskImage> {
  return openChain(name, { writable: false }, { formats: BROWSER_FORMATS, openFile: files.open, resolveParent: files.resolveParent }, 0, new Set([name]));
}

/** The depth of the chain `name` opens to, or -1 when it does not open. */
async function chainDepth(files: PickedFiles, name: string): Promise<number> {
  const image = await openPicked(files, name).catch(() => undefined);
  if (!image) return -1;
  let depth = 0;
  for (let l = image.parent; l; l = l.parent) depth++;
  await image.close();
  return depth;
}

/**
 * The top image among the picked files: the one that opens with the longest
 * chain (a child names its parents; no parent names its child), the first
 * picked on a tie or when none opens (so its error is the one shown).
 */
async function topOf(files: PickedFiles): Promise<string> {
  let best = files.names[0]!;
  let bestDepth = -1;
  for (const name of files.names) {
    const depth = files.names.length === 1 ? 0 : await chainDepth(files, name);
    if (depth > bestDepth) [best, bestDepth] = [name, depth];
  }
  return best;
}

/** The `check` of an open image: its findings (the top image's), the result they sum to, every profile's rules, and its allocation map. */
async function checked(image: DiskImage): Promise<Inspection> {
  const chain: ImageInfo[] = [];
  for (let l: DiskImage | undefined = image; l; l = l.parent) chain.push(l.describe());
  const findings = await image.check();
  const targets = PROFILES.map((p): TargetVerdict => {
    const rules = applyProfile(p, chain[0]!);
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
      return await checked(image);
    } finally {
      await image.close();
    }
  } catch (err) {
    return { ok: false, error: errorLine(err) };
  }
}
