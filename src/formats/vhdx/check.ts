import type { Finding } from '../types.js';
import type { VhdxLayout } from './layout.js';

/**
 * Structural check of one VHDX layer beyond what opening validates: a damaged
 * header or region table copy, and a log that still needs replaying.
 */
export async function checkVhdx(l: VhdxLayout): Promise<Finding[]> {
  const out: Finding[] = [];
  l.headers.forEach((h, i) => {
    if (!h) out.push({ severity: 'corruption', code: 'HEADER_DAMAGED', message: `header ${i + 1} has a wrong signature or CRC-32C` });
  });
  l.regionTables.forEach((t, i) => {
    if (!t) out.push({ severity: 'corruption', code: 'REGION_TABLE_DAMAGED', message: `region table ${i + 1} has a wrong signature or CRC-32C` });
  });
  if (l.replay) out.push({ severity: 'corruption', code: 'LOG_PENDING', message: `the log holds ${l.replay.entries} entr${l.replay.entries === 1 ? 'y' : 'ies'} not yet applied (the file was not closed cleanly); --repair replays them` });
  return out;
}
