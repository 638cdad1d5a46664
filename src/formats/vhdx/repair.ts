import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import type { FileOpener } from '../../io/image-file.js';
import { HEADER_OFFSETS, REGION_TABLE_OFFSETS } from './constants.js';
import { encodeHeader } from './header.js';
import { readVhdxLayout } from './layout.js';
import { replayLogInPlace } from './log-replay.js';
import { encodeRegionTable } from './region-table.js';

/**
 * `check --repair` for VHDX: replays a pending log into the file (2.3.3),
 * fsync, then writes a header with a zero LogGuid into the other slot (next
 * sequence number), fsync; then rewrites a damaged header slot and a damaged
 * region table from the good ones. Every step leaves a file whose next open
 * finds the same state or a later one (a replay is idempotent). Returns what
 * it changed.
 */
export async function repairVhdx(path: string, openFile: FileOpener = openDiskFile): Promise<string[]> {
  const changes: string[] = [];
  const raw = await openFile(path, 'write');
  try {
    const l = await readVhdxLayout(raw, false);
    let header = l.header;
    if (l.replay) {
      await replayLogInPlace(raw, l.replay);
      const fields = { ...header.fields, sequenceNumber: header.sequenceNumber + 1n, logGuid: new Uint8Array(16) };
      const slot = 1 - header.slot;
      await raw.write(encodeHeader(fields), HEADER_OFFSETS[slot]!);
      await raw.sync();
      header = { ...header, fields, slot, sequenceNumber: fields.sequenceNumber };
      changes.push(`replayed ${l.replay.entries} log entr${l.replay.entries === 1 ? 'y' : 'ies'} into the file and cleared the log`);
    }
    const other = 1 - header.slot;
    if (!l.headers[other] || l.replay) {
      await raw.write(encodeHeader({ ...header.fields, sequenceNumber: header.sequenceNumber + 1n }), HEADER_OFFSETS[other]!);
      await raw.sync();
      if (!l.headers[other]) changes.push(`rewrote damaged header ${other + 1} from header ${header.slot + 1}`);
    }
    for (const [i, table] of l.regionTables.entries()) {
      if (table) continue;
      const good = l.regionTables[1 - i];
      if (!good) throw new DiskImageError('CORRUPT', 'both VHDX region tables are damaged: rebuilding them would be a guess');
      await raw.write(encodeRegionTable(good), REGION_TABLE_OFFSETS[i]!);
      await raw.sync();
      changes.push(`rewrote damaged region table ${i + 1} from table ${2 - i}`);
    }
    return changes;
  } finally {
    await raw.close();
  }
}
