import type { CheckReport } from '../ops/check.js';
import type { Extent, ImageInfo, SnapshotInfo } from '../formats/types.js';
import { formatSize } from '../util/sizes.js';

/** A VM clock in nanoseconds as qemu-img prints it: hours:minutes:seconds.milliseconds. */
function vmClock(ns: number): string {
  const ms = Math.floor(ns / 1e6);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(Math.floor(ms / 3_600_000), 4)}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}.${pad(ms % 1000, 3)}`;
}

/** The snapshot list of `info`, as qemu-img prints it: ID, name, VM state size, date, VM clock (and the disk size). */
function snapshotLines(snapshots: SnapshotInfo[]): string[] {
  const rows = snapshots.map((s) => `${s.id.padEnd(8)} ${s.name.padEnd(16)} ${formatSize(s.vmStateSize).padStart(10)} ${s.date.replace('T', ' ').replace(/\.\d+Z$/, '')} ${vmClock(s.vmClockNs)} ${formatSize(s.virtualSize)}`);
  return ['snapshots:', `${'ID'.padEnd(8)} ${'TAG'.padEnd(16)} ${'VM SIZE'.padStart(10)} ${'DATE'.padEnd(19)} ${'VM CLOCK'.padEnd(17)} DISK SIZE`, ...rows];
}

/** `vdisk info` text, in the spirit of qemu-img info. */
export function infoText(layers: ImageInfo[]): string {
  return layers
    .map((i) => {
      const lines = [
        `image: ${i.filename}`,
        `file format: ${i.format}${i.subformat ? ` (${i.subformat})` : ''}`,
        `virtual size: ${formatSize(i.virtualSize)} (${i.virtualSize} bytes)`,
        `file size: ${formatSize(i.fileSize)}; on disk: ${formatSize(i.allocatedSize ?? 0)}`,
      ];
      if (i.clusterSize) lines.push(`block size: ${formatSize(i.clusterSize)}`);
      if (i.uuid) lines.push(`uuid: ${i.uuid}`);
      if (i.backingFile) lines.push(`parent: ${i.backingFile}`);
      const fs = i.formatSpecific ?? {};
      if (fs.creatorApplication !== undefined) lines.push(`creator: '${String(fs.creatorApplication)}' ${String(fs.creatorVersion)} on ${String(fs.creatorHostOs)}`);
      if (fs.sizeRule) lines.push(`size from: ${fs.sizeRule === 'chs' ? 'CHS geometry' : 'footer current size'}`);
      if (fs.parentName !== undefined) lines.push(`parent name: ${String(fs.parentName)}; parent uuid: ${String(fs.parentUuid)}`);
      if (fs.cid !== undefined) lines.push(`content id: ${String(fs.cid)}; parent content id: ${String(fs.parentCid)}${fs.parentFileNameHint ? ` (${String(fs.parentFileNameHint)})` : ''}`);
      if (fs.adapterType !== undefined) lines.push(`adapter: ${String(fs.adapterType)}`);
      const chs = fs.geometry as { cylinders: number; heads: number; sectors?: number; sectorsPerTrack?: number } | undefined;
      if (chs) lines.push(`geometry: ${chs.cylinders}/${chs.heads}/${chs.sectors ?? chs.sectorsPerTrack} (cylinders/heads/sectors)`);
      const files = Array.isArray(fs.extents) ? (fs.extents as { access: string; type: string; sectors: number; file?: string }[]) : [];
      for (const e of files) lines.push(`extent: ${e.access} ${e.type} ${e.sectors} sectors${e.file ? ` ${e.file}` : ''}`);
      if (i.snapshots?.length) lines.push(...snapshotLines(i.snapshots));
      for (const w of i.warnings) lines.push(`warning: ${w}`);
      return lines.join('\n');
    })
    .join('\n\n');
}

/** `vdisk check` text. */
export function checkText(r: CheckReport): string {
  const lines = r.repaired.map((c) => `repaired: ${c}`);
  for (const f of r.findings) if (f.severity !== 'nonconformance') lines.push(`${f.severity}: ${f.message} [${f.code}]`);
  if (r.target) {
    lines.push(`target ${r.target.profile}:${r.target.note ? ` (${r.target.note})` : ''}`);
    for (const rule of r.target.rules) lines.push(`  ${rule.ok ? 'ok  ' : 'FAIL'} ${rule.text}${rule.ok ? '' : `: ${rule.detail}`}`);
  }
  if (r.error) lines.push(`could not check: ${r.error}`);
  else if (r.result === 'clean') lines.push('No errors were found on the image.');
  else if (r.result === 'leaks') lines.push('Leaked space was found; the data is intact.');
  else if (r.result === 'nonconformant') lines.push(`The image is intact but does not meet the ${r.target?.profile} profile.`);
  else lines.push('The image is corrupt.');
  return lines.join('\n');
}

/** `vdisk map` text: one line per extent. */
export function mapText(extents: Extent[]): string {
  const rows = extents.map((e) => `${String(e.offset).padStart(16)} ${String(e.length).padStart(16)}  ${e.kind.padEnd(12)} ${e.depth}`);
  return [`${'Offset'.padStart(16)} ${'Length'.padStart(16)}  ${'Kind'.padEnd(12)} Depth`, ...rows].join('\n');
}
