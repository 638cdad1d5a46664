import { Findings } from '../findings.js';
import type { Finding } from '../types.js';
import { ENTRY_SIZE, FLAG_VALID_NEWLINE, FLAG_ZEROED_GTE, GTE_ZEROED, SECTOR } from './constants.js';
import type { GrainDirectory } from './grain-directory.js';
import type { VmdkParts } from './extents.js';
import type { SparseExtent } from './sparse-extent.js';
import { spaceUse } from './space-use.js';

/** Unreferenced ranges a LEAKED_GRAINS finding names one by one. */
const LISTED_RANGES = 8;

/** A byte range of an extent file that holds metadata. */
interface Span {
  what: string;
  start: number;
  end: number;
}

/** The span of `sorted` (by start) that [start, end) overlaps, if any: looks at the two starting last before `end` (metadata spans do not nest deeper). */
function overlapping(sorted: Span[], start: number, end: number): Span | undefined {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]!.start < end) lo = mid + 1;
    else hi = mid;
  }
  return [sorted[lo - 1], sorted[lo - 2]].find((s) => s !== undefined && start < s.end);
}

function byStart(spans: Span[]): Span[] {
  return spans.sort((a, b) => a.start - b.start);
}

/** The metadata of a sparse extent: header, embedded descriptor, both directories. */
function metadataSpans(s: SparseExtent): Span[] {
  const h = s.header;
  const spans: Span[] = [{ what: 'header', start: 0, end: h.headerBytes }];
  if (h.descriptorOffset && h.descriptorSize) spans.push({ what: 'embedded descriptor', start: h.descriptorOffset * SECTOR, end: (h.descriptorOffset + h.descriptorSize) * SECTOR });
  for (const d of [s.primary, s.redundant]) if (d) spans.push({ what: d.name, start: d.gdSector * SECTOR, end: d.gdSector * SECTOR + d.entries * ENTRY_SIZE });
  return spans;
}

/** Walks one directory: tables past the end or over metadata. Returns the good tables' spans, and the bad ones' indices. */
async function walkDirectory(s: SparseExtent, d: GrainDirectory, metadata: Span[], out: Findings): Promise<{ tables: Span[]; bad: Set<number> }> {
  const size = s.file.size;
  const tables: Span[] = [];
  const bad = new Set<number>();
  for (let g = 0; g < d.entries; g++) {
    const sector = await d.tableSector(g);
    if (sector === 0) continue;
    const span = { what: `grain table ${g}`, start: sector * SECTOR, end: sector * SECTOR + d.tableBytes };
    const over = overlapping(metadata, span.start, span.end);
    if (span.end > size) out.add('corruption', 'GT_OUT_OF_RANGE', `${d.name} entry ${g}: grain table at sector ${sector} ends past the end of the file (${size} bytes)`);
    else if (over) out.add('corruption', 'GT_OVERLAPS_METADATA', `${d.name} entry ${g}: grain table at sector ${sector} overlaps the ${over.what}`);
    else tables.push(span);
    if (span.end > size || over) bad.add(g);
  }
  return { tables, bad };
}

/** Checks every grain pointer of `d`'s good tables (all but `bad`) against the end of the file and the metadata. */
async function checkGrains(s: SparseExtent, d: GrainDirectory, bad: Set<number>, metadata: Span[], out: Findings): Promise<void> {
  const size = s.file.size;
  const grainBytes = s.header.compressed ? SECTOR : s.grainBytes;
  const zeroedAllowed = (s.header.flags & FLAG_ZEROED_GTE) !== 0 || s.header.headerBytes > SECTOR;
  for (let g = 0; g < d.entries; g++) {
    const table = bad.has(g) ? undefined : await d.table(g);
    if (!table) continue;
    for (const [i, gte] of table.entries()) {
      const grain = g * d.perTable + i;
      if (gte === GTE_ZEROED && !zeroedAllowed) {
        out.add('warning', 'ZEROED_GTE_WITHOUT_FLAG', `${d.name}: grain ${grain} has GTE 1 but flags bit 2 is clear; vdisk reads zeros, qemu-img reads sector 1 (the header area) as its data`);
      }
      if (gte <= GTE_ZEROED) continue;
      const start = gte * SECTOR;
      const over = overlapping(metadata, start, start + grainBytes);
      if (start + grainBytes > size) out.add('corruption', 'GRAIN_OUT_OF_RANGE', `${d.name}: grain ${grain} at sector ${gte} ends past the end of the file (${size} bytes)`);
      else if (over) out.add('corruption', 'GRAIN_OVERLAPS_METADATA', `${d.name}: grain ${grain} at sector ${gte} overlaps the ${over.what}`);
    }
  }
}

/**
 * Compares the primary and redundant grain tables entry by entry, but for
 * those either walk found `bad` (already reported): reading each of those
 * threw an error only to be caught, which on a directory of garbage cost
 * more than the rest of the check.
 */
async function compareDirectories(s: SparseExtent, bad: Set<number>[], out: Findings): Promise<void> {
  const { primary, redundant } = s;
  if (!primary || !redundant) return;
  for (let g = 0; g < primary.entries; g++) {
    if (bad.some((b) => b.has(g))) continue;
    const [a, b] = await Promise.all([primary.table(g).catch(() => null), redundant.table(g).catch(() => null)]);
    if (a === null || b === null) continue;
    const differs = a === undefined || b === undefined ? a !== b : a.some((x, i) => x !== b[i]);
    if (differs) out.add('corruption', 'RGD_DIFFERS', `grain table ${g} differs between the grain directory and the redundant one`);
  }
}

/** Structural check of one sparse extent file. */
async function checkSparse(s: SparseExtent, label: string, out: Findings): Promise<void> {
  const h = s.header;
  if (h.uncleanShutdown) out.add('warning', 'UNCLEAN_SHUTDOWN', `${label}: uncleanShutdown is set (the extent was not closed cleanly)`);
  if ((h.flags & FLAG_VALID_NEWLINE) !== 0 && !h.newlinesIntact) out.add('corruption', 'NEWLINE_CHARS', `${label}: the newline-detection characters are altered (copied in text mode?)`);
  if (!s.primary) out.add('corruption', 'GD_DAMAGED', `${label}: the grain directory is unusable; the redundant one is read`);
  const metadata = byStart(metadataSpans(s));
  const directories = [s.primary, s.redundant].filter((d): d is GrainDirectory => d !== undefined);
  const walks = [];
  for (const d of directories) walks.push(await walkDirectory(s, d, metadata, out));
  const all = byStart([...metadata, ...walks.flatMap((w) => w.tables)]);
  for (const [i, d] of directories.entries()) await checkGrains(s, d, walks[i]!.bad, all, out);
  await compareDirectories(s, walks.map((w) => w.bad), out);
  if (h.compressed) return;
  const { end, unreferenced } = await spaceUse(s);
  if (unreferenced.length > 0) {
    const bytes = unreferenced.reduce((n, r) => n + r.end - r.start, 0);
    const listed = unreferenced.slice(0, LISTED_RANGES).map((r) => `${r.end - r.start} at byte ${r.start}`);
    const more = unreferenced.length > LISTED_RANGES ? `, and ${unreferenced.length - LISTED_RANGES} more ranges` : '';
    out.add('leak', 'LEAKED_GRAINS', `${label}: ${bytes} bytes in ${unreferenced.length} ranges between structures belong to nothing, no grain table points there (${listed.join(', ')}${more}); check --repair cuts only space at the end`);
  }
  if (s.file.size > end) out.add('leak', 'LEAKED_SPACE', `${label}: ${s.file.size - end} bytes after the last structure (byte ${end}) belong to nothing (check --repair cuts them)`);
}

/**
 * Structural check of a VMDK layer: per sparse extent the header flags,
 * where its tables and grains lie, and whether the redundant directory
 * agrees; per extent whether the descriptor's size matches the file.
 * Problems that stop reading already failed the open.
 */
export async function checkVmdk(parts: VmdkParts): Promise<Finding[]> {
  const out = new Findings();
  for (const w of parts.warnings) out.add('warning', 'DESCRIPTOR', w);
  for (const e of parts.extents) {
    if (e.kind === 'sesparse') {
      for (const problem of await e.se.problems()) out.add('corruption', 'SESPARSE_ENTRY', problem);
    }
    if (e.kind !== 'sparse') continue;
    const label = e.file.path;
    if (e.line && e.line.sectors !== e.sparse.header.capacity) {
      out.add('warning', 'EXTENT_SIZE_MISMATCH', `${label}: the descriptor gives ${e.line.sectors} sectors, the header's capacity is ${e.sparse.header.capacity}`);
    }
    await checkSparse(e.sparse, label, out);
  }
  return out.done();
}
