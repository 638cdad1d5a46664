/** A run of units (sectors) whose bitmap bits are all set or all clear, as byte offsets [start, end). */
export interface BitRun {
  start: number;
  end: number;
  set: boolean;
}

/**
 * Splits the byte range [from, to) into runs by a bitmap of one bit per `unit`
 * bytes. `msbFirst`: bit 7 of byte 0 is unit 0 (VHD); otherwise bit 0 is (VHDX).
 * Whole bytes that continue a run are skipped at once.
 */
export function bitRuns(bitmap: Uint8Array, from: number, to: number, unit: number, msbFirst: boolean): BitRun[] {
  const bit = (i: number) => (msbFirst ? (bitmap[i >> 3]! >> (7 - (i & 7))) & 1 : (bitmap[i >> 3]! >> (i & 7)) & 1) === 1;
  const runs: BitRun[] = [];
  let pos = from;
  while (pos < to) {
    const first = Math.floor(pos / unit);
    const set = bit(first);
    const whole = set ? 0xff : 0;
    let u = first + 1;
    while (u * unit < to) {
      if ((u & 7) === 0 && bitmap[u >> 3] === whole) u += 8;
      else if (bit(u) === set) u++;
      else break;
    }
    const end = Math.min(to, u * unit);
    runs.push({ start: pos, end, set });
    pos = end;
  }
  return runs;
}
