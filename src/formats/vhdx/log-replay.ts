/**
 * Replays a VHDX log into the file itself ([MS-VHDX] 2.3.3). The caller then
 * writes a header with a zero LogGuid; until it does, the log stays active,
 * so a crash at any point here leaves a file whose next open replays the
 * same updates again (replay is idempotent: the updates are absolute).
 */
import type { ImageFile } from '../../io/image-file.js';
import { MiB } from './constants.js';
import type { LogReplay } from './log-updates.js';
import { resolveReplay } from './log-updates.js';

/**
 * Applies `replay` to a writable file: grows it (sparse) to max(size,
 * lastFileOffset) first, writes zeros over the zero ranges where the file
 * holds data (holes and the new tail already read as zeros), writes the
 * sectors, and fsyncs. Headers are not touched. A malformed hand-made replay
 * is a `USAGE` error before anything is written.
 */
export async function replayLogInPlace(file: ImageFile, replay: LogReplay): Promise<void> {
  const { writes, zeroes, size } = resolveReplay(replay);
  const original = file.size;
  if (size > original) await file.truncate(size);
  const zeros = new Uint8Array(MiB);
  for (const z of zeroes) {
    const end = Math.min(z.offset + z.length, original);
    if (end <= z.offset) continue;
    for (const r of await file.dataRanges(z.offset, end - z.offset)) {
      const rEnd = Math.min(r.offset + r.length, end);
      for (let pos = Math.max(r.offset, z.offset); pos < rEnd; pos += zeros.length) {
        await file.write(zeros.subarray(0, Math.min(zeros.length, rEnd - pos)), pos);
      }
    }
  }
  for (const w of writes) await file.write(w.data, w.offset);
  await file.sync();
}
