import { realpath } from 'node:fs/promises';
import type { DiskImage } from '../formats/types.js';
import { CHUNK_SIZE } from './layout.js';
import type { SnapshotMeta } from './snapshot-index.js';
import type { SourceFiles } from './source-files.js';

/**
 * The incremental shortcut of `backup create` (docs/backup.md,
 * "Incremental backups"): when the previous snapshot's top image is
 * `image` itself or one of its parents, and every file that snapshot was
 * read from is still the same and is part of this chain (`current`, whose
 * stamps were taken when the image was opened: source-files.ts), only the chunks that the layers above it allocate can
 * differ. Returns their indexes, or undefined when every data chunk must
 * be read and hashed.
 */
export async function changedChunks(image: DiskImage, current: SourceFiles | undefined, previous: SnapshotMeta | undefined): Promise<Set<number> | undefined> {
  const recorded = previous?.source;
  if (!recorded || !current || previous.diskSize !== image.virtualSize) return undefined;
  const now = new Set(current.files.map((f) => JSON.stringify(f)));
  if (!recorded.files.every((f) => now.has(JSON.stringify(f)))) return undefined;
  const upper: DiskImage[] = [];
  let level: DiskImage | undefined = image;
  while (level && (await realpath(level.path).catch(() => undefined)) !== recorded.top) {
    upper.push(level);
    level = level.parent;
  }
  if (!level) return undefined;
  const touched = new Set<number>();
  for (const layer of upper) {
    for await (const e of layer.extents(undefined, true)) {
      if (e.kind === 'unallocated' || e.length === 0) continue;
      for (let i = Math.floor(e.offset / CHUNK_SIZE); i * CHUNK_SIZE < e.offset + e.length; i++) touched.add(i);
    }
  }
  return touched;
}
