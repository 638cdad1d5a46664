/**
 * The VHD checksum: the one's complement of the byte sum of a structure with
 * its checksum field taken as zero (Appendix A, "Checksum"; the dynamic
 * header uses the same rule).
 */
export function vhdChecksum(buf: Uint8Array, checksumOffset: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) {
    if (i >= checksumOffset && i < checksumOffset + 4) continue;
    sum += buf[i]!;
  }
  return ~sum >>> 0;
}
