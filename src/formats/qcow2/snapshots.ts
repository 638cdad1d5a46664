import { DiskImageError } from '../../errors.js';
import type { ByteSource } from '../../io/byte-source.js';
import type { MetadataBudget } from '../../util/metadata-budget.js';
import { decodeStruct, defineStruct } from '../../util/struct.js';
import { SNAPSHOT_FIXED_SIZE } from './constants.js';
import type { Qcow2Header } from './header.js';
import { limitNote, QCOW2_MAX_SNAPSHOT_EXTRA, QCOW2_MAX_SNAPSHOT_TABLE_BYTES, QCOW2_MAX_SNAPSHOTS } from '../../limits.js';

/** The fixed part of a snapshot table entry ("Snapshots", bytes 0-39). */
export const SNAPSHOT_ENTRY = defineStruct('QCowSnapshotHeader', SNAPSHOT_FIXED_SIZE, 'be', {
  l1TableOffset: { offset: 0, type: 'u64' },
  l1Size: { offset: 8, type: 'u32' },
  idStrSize: { offset: 12, type: 'u16' },
  nameSize: { offset: 14, type: 'u16' },
  dateSec: { offset: 16, type: 'u32' },
  dateNsec: { offset: 20, type: 'u32' },
  vmClockNsec: { offset: 24, type: 'u64' },
  vmStateSize: { offset: 32, type: 'u32' },
  extraDataSize: { offset: 36, type: 'u32' },
});

/** Extra data offsets, relative to the end of the fixed part ("Snapshots": bytes 40-47 VM state size, 48-55 disk size). */
const EXTRA_VM_STATE = 0;
/** See EXTRA_VM_STATE. */
const EXTRA_DISK_SIZE = 8;

/** One internal snapshot ("Snapshots"). */
export interface Snapshot {
  id: string;
  name: string;
  l1Offset: number;
  l1Size: number;
  /** Seconds since the Epoch, and the nanoseconds past them. */
  dateSec: number;
  dateNsec: number;
  /** Nanoseconds the guest had run when the snapshot was taken. */
  vmClockNsec: number;
  vmStateSize: number;
  /** The snapshot's virtual disk size (the image's when the entry does not say). */
  diskSize: number;
}

function corrupt(path: string, why: string, value: number): DiskImageError {
  return new DiskImageError('CORRUPT', `${path}: qcow2 snapshot table: ${why}`, { path, field: 'snapshot table', value });
}

function safe(path: string, v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(path, `${what} ${v} is too large`, 0);
  return Number(v);
}

/**
 * Reads the snapshot table ("Snapshots"): nb_snapshots entries of variable
 * length from snapshots_offset, each starting on an 8-byte boundary. The
 * spec pads every entry to 8 bytes, but qemu's table (qcow2_write_snapshots)
 * ends where the last entry does, and when it is the last thing in the file
 * the file ends there too: that padding is not required. More than
 * QCOW2_MAX_SNAPSHOTS entries, a table longer than QCOW2_MAX_SNAPSHOT_TABLE_BYTES, extra
 * data past QCOW2_MAX_SNAPSHOT_EXTRA or an entry past the end of the file is CORRUPT.
 * Each piece is charged to `budget` before it is read (the entries keep its
 * names). Returns the entries and the table's length in bytes.
 */
export async function readSnapshots(file: ByteSource, h: Qcow2Header, budget: MetadataBudget): Promise<{ snapshots: Snapshot[]; tableBytes: number }> {
  const path = file.path;
  if (h.nbSnapshots === 0) return { snapshots: [], tableBytes: 0 };
  if (h.nbSnapshots > QCOW2_MAX_SNAPSHOTS) throw corrupt(path, `${h.nbSnapshots} snapshots, more than the ${QCOW2_MAX_SNAPSHOTS} vdisk and qemu read (${limitNote('QCOW2_MAX_SNAPSHOTS', QCOW2_MAX_SNAPSHOTS)})`, h.nbSnapshots);
  if (h.snapshotsOffset % h.clusterSize !== 0 || h.snapshotsOffset < h.clusterSize) throw corrupt(path, `offset ${h.snapshotsOffset} is not a cluster boundary after the header`, h.snapshotsOffset);
  const out: Snapshot[] = [];
  let at = h.snapshotsOffset;
  const read = async (n: number): Promise<Uint8Array> => {
    if (at + n > file.size) throw corrupt(path, `entry ${out.length} runs past the end of the file (${file.size} bytes)`, at);
    if (at + n - h.snapshotsOffset > QCOW2_MAX_SNAPSHOT_TABLE_BYTES) throw corrupt(path, `longer than ${QCOW2_MAX_SNAPSHOT_TABLE_BYTES} bytes (${limitNote('QCOW2_MAX_SNAPSHOT_TABLE_BYTES', QCOW2_MAX_SNAPSHOT_TABLE_BYTES)})`, at);
    budget.charge(n, 'qcow2 snapshot table');
    const buf = new Uint8Array(n);
    await file.read(buf, at);
    at += n;
    return buf;
  };
  for (let i = 0; i < h.nbSnapshots; i++) {
    // Each entry starts on an 8-byte boundary; the padding after the last one is not part of the table (qemu writes and reads it so).
    at = h.snapshotsOffset + Math.ceil((at - h.snapshotsOffset) / 8) * 8;
    const f = decodeStruct(SNAPSHOT_ENTRY, await read(SNAPSHOT_FIXED_SIZE));
    if (f.extraDataSize > QCOW2_MAX_SNAPSHOT_EXTRA) throw corrupt(path, `entry ${i} has ${f.extraDataSize} bytes of extra data, more than ${QCOW2_MAX_SNAPSHOT_EXTRA} (${limitNote('QCOW2_MAX_SNAPSHOT_EXTRA', QCOW2_MAX_SNAPSHOT_EXTRA)})`, f.extraDataSize);
    const rest = await read(f.extraDataSize + f.idStrSize + f.nameSize);
    const extra = new DataView(rest.buffer, 0, f.extraDataSize);
    const text = (from: number, n: number): string => Buffer.from(rest.subarray(from, from + n)).toString('utf8');
    out.push({
      id: text(f.extraDataSize, f.idStrSize),
      name: text(f.extraDataSize + f.idStrSize, f.nameSize),
      l1Offset: safe(path, f.l1TableOffset, 'l1_table_offset'),
      l1Size: f.l1Size,
      dateSec: f.dateSec,
      dateNsec: f.dateNsec,
      vmClockNsec: safe(path, f.vmClockNsec, 'vm_clock_nsec'),
      vmStateSize: f.extraDataSize >= EXTRA_VM_STATE + 8 ? safe(path, extra.getBigUint64(EXTRA_VM_STATE, false), 'vm_state_size') : f.vmStateSize,
      diskSize: f.extraDataSize >= EXTRA_DISK_SIZE + 8 ? safe(path, extra.getBigUint64(EXTRA_DISK_SIZE, false), 'disk_size') : h.size,
    });
  }
  return { snapshots: out, tableBytes: at - h.snapshotsOffset };
}

/** The snapshot whose ID or name is `which` (an ID first, as qemu-img does), or USAGE listing them. */
export function findSnapshot(snapshots: Snapshot[], which: string, path: string): Snapshot {
  const s = snapshots.find((x) => x.id === which) ?? snapshots.find((x) => x.name === which);
  if (s) return s;
  const known = snapshots.map((x) => `${x.id} '${x.name}'`).join(', ') || 'none';
  throw new DiskImageError('USAGE', `${path}: no snapshot with ID or name '${which}' (snapshots: ${known})`, { path, value: which });
}
