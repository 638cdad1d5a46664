import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { MetadataBudget } from '../../util/metadata-budget.js';
import { BitmapState, MiB, PayloadState } from './constants.js';
import type { Bat, BatGeometry, Reserved } from './bat-geometry.js';
import { checkBatPlacement } from './bat-placement.js';
import type { Region } from './region-table.js';
import { limitNote, VHDX_MAX_BAT_ENTRIES } from '../../limits.js';

const VALID_PAYLOAD = new Set<number>(Object.values(PayloadState));

/** Bytes of BAT read at a time (128 Ki entries): the table is decoded page by page, never held raw in whole. */
const BAT_READ_PAGE = 1024 * 1024;

function entryAt(view: DataView, i: number): { state: number; mb: number } {
  const lo = view.getUint32(i * 8, true);
  const hi = view.getUint32(i * 8 + 4, true);
  return { state: lo & 7, mb: hi * 4096 + (lo >>> 20) };
}

/**
 * Reads and validates the BAT: states known (partially present only in a
 * differencing disk), every present block and bitmap inside the file (of
 * the last block, the part inside the disk: qemu-img's fixed VHDX of a size
 * that is not a multiple of the block size ends there), 1 MiB
 * aligned by construction, not overlapping headers, regions, the log or each other.
 * What it keeps (9 bytes a payload block, 8 a sector bitmap block) is charged
 * to `budget` (the file's own unless given) first.
 */
export async function readBat(file: ImageFile, region: Region, g: BatGeometry, hasParent: boolean, reserved: Reserved[], budget = new MetadataBudget(file.path)): Promise<Bat> {
  if (g.totalEntries > VHDX_MAX_BAT_ENTRIES) {
    throw new DiskImageError('UNSUPPORTED', `VHDX BAT of ${g.totalEntries} entries is larger than vdisk's limit of ${VHDX_MAX_BAT_ENTRIES} (${limitNote('VHDX_MAX_BAT_ENTRIES', VHDX_MAX_BAT_ENTRIES)})`, { value: g.totalEntries });
  }
  if (g.totalEntries * 8 > region.length) {
    throw new DiskImageError('CORRUPT', `VHDX BAT region (${region.length} bytes) is too small for ${g.totalEntries} entries`, { value: region.length });
  }
  budget.charge(9 * g.payloadBlocks + 8 * g.bitmapBlocks, 'VHDX BAT');
  const bat: Bat = { geometry: g, states: new Uint8Array(g.payloadBlocks), offsetsMb: new Float64Array(g.payloadBlocks), bitmapMb: new Float64Array(g.bitmapBlocks) };
  const place = (mb: number, length: number, what: string) => {
    const start = mb * MiB;
    if (mb === 0 || start + length > file.size) {
      throw new DiskImageError('CORRUPT', `VHDX ${what} at ${start} (length ${length}) lies outside the file (${file.size} bytes)`, { field: 'bat', value: start });
    }
  };
  const page = new Uint8Array(Math.min(BAT_READ_PAGE, g.totalEntries * 8));
  const view = new DataView(page.buffer);
  const stride = g.chunkRatio + 1;
  for (let first = 0; first < g.totalEntries; first += page.length / 8) {
    const count = Math.min(page.length / 8, g.totalEntries - first);
    await file.read(page.subarray(0, count * 8), region.offset + first * 8);
    for (let k = 0; k < count; k++) {
      const i = first + k;
      const { state, mb } = entryAt(view, k);
      if (i % stride === g.chunkRatio) {
        const c = (i - g.chunkRatio) / stride;
        if (state === BitmapState.present) {
          place(mb, MiB, `sector bitmap of chunk ${c}`);
          bat.bitmapMb[c] = mb;
        } else if (state !== BitmapState.notPresent) {
          throw new DiskImageError('CORRUPT', `VHDX sector bitmap entry of chunk ${c} has state ${state}`, { field: 'bat', index: i, value: state });
        }
        continue;
      }
      const b = i - Math.floor(i / stride);
      if (b >= g.payloadBlocks) continue;
      if (!VALID_PAYLOAD.has(state) || (state === PayloadState.partiallyPresent && !hasParent)) {
        throw new DiskImageError('CORRUPT', `VHDX BAT entry of block ${b} has state ${state}`, { field: 'bat', index: b, value: state });
      }
      bat.states[b] = state;
      if (state === PayloadState.fullyPresent || state === PayloadState.partiallyPresent) {
        place(mb, b === g.payloadBlocks - 1 ? g.lastBlockBytes : g.blockSize, `block ${b}`);
        bat.offsetsMb[b] = mb;
      }
    }
  }
  checkBatPlacement(bat, reserved);
  for (let b = 0; b < g.payloadBlocks; b++) {
    if (bat.states[b] === PayloadState.partiallyPresent && bat.bitmapMb[Math.floor(b / g.chunkRatio)] === 0) {
      throw new DiskImageError('CORRUPT', `VHDX block ${b} is partially present but its chunk has no sector bitmap`, { field: 'bat', index: b });
    }
  }
  return bat;
}

/** Encodes one BAT entry (2.5.1). */
export function encodeBatEntry(state: number, mb: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, (((mb % 4096) << 20) | state) >>> 0, true);
  view.setUint32(4, Math.floor(mb / 4096), true);
  return out;
}
