import { ZERO_MIB } from '../../util/zero.js';
import { blockPieces } from '../guest-range.js';
import { GTE_ZEROED, SECTOR } from './constants.js';
import type { ExtentTarget } from './extents.js';
import { encodeTable, type GrainDirectory } from './grain-directory.js';
import type { SparseExtent } from './sparse-extent.js';

/**
 * One uncompressed hosted sparse extent written in place, its grain tables
 * all present (as vdisk, VMware and qemu-img create them), so only table
 * entries change. New grains are appended at the end of the file; a grain
 * partly written reads as zeros elsewhere (the file past its end is a hole).
 * `flush` stores data, fsync, then the changed tables of the redundant
 * directory, fsync, then those of the primary, fsync: a crash before leaves
 * the old tables pointing at old grains, and a crash between leaves the
 * redundant copy the newer one, which `check --repair` copies over the
 * primary without a guess.
 */
export class SparseExtentWriter {
  private readonly directories: GrainDirectory[];

  constructor(
    private readonly sparse: SparseExtent,
    private readonly target: ExtentTarget,
  ) {
    this.directories = [sparse.redundant, sparse.primary].filter((d): d is GrainDirectory => d !== undefined);
  }

  private get grain(): number {
    return this.sparse.grainBytes;
  }

  /** Grain table `g`, as the copy this writer changes (made pending on first use). */
  private async editable(g: number): Promise<Uint32Array> {
    const perTable = this.sparse.header.numGTEsPerGT;
    const table = await this.sparse.tableOf(g * perTable);
    const pending = this.sparse.pendingTables.get(g);
    if (pending) return pending;
    const copy = table ? table.slice() : new Uint32Array(perTable);
    this.sparse.pendingTables.set(g, copy);
    return copy;
  }

  /** The file offset of grain `grain`, appending a new grain when it has none and `allocate` (synchronously once the table is at hand, so concurrent writers never both allocate). */
  private async grainAt(grain: number, allocate: boolean): Promise<number | undefined> {
    const perTable = this.sparse.header.numGTEsPerGT;
    const table = await this.editable(Math.floor(grain / perTable));
    const i = grain % perTable;
    if (table[i]! > GTE_ZEROED) return table[i]! * SECTOR;
    if (!allocate) return undefined;
    const { reach } = this.target;
    const at = reach.bytes;
    table[i] = at / SECTOR;
    reach.bytes = at + this.grain;
    return at;
  }

  /** Writes `data` at byte `offset` of the extent. */
  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    await Promise.all(
      blockPieces(offset, data.length, this.grain).map(async (p) => {
        const at = await this.grainAt(p.block, true);
        await this.target.file.write(data.subarray(p.at, p.at + p.length), at! + p.inBlock);
      }),
    );
  }

  /** Zeroes grains that hold data by writing zeros into them; grains without data read as zeros already, unless `allocate` (a delta's parent shows through them). */
  async writeZeroes(offset: number, length: number, allocate: boolean): Promise<void> {
    for (const p of blockPieces(offset, length, this.grain)) {
      const at = await this.grainAt(p.block, allocate);
      if (at === undefined) continue;
      for (let done = 0; done < p.length; done += ZERO_MIB.length) {
        await this.target.file.write(ZERO_MIB.subarray(0, Math.min(ZERO_MIB.length, p.length - done)), at + p.inBlock + done);
      }
    }
  }

  async flush(): Promise<void> {
    const { file, reach } = this.target;
    const pending = [...this.sparse.pendingTables];
    if (file.size < reach.bytes) await file.truncate(reach.bytes);
    await file.sync();
    if (pending.length === 0) return;
    for (const d of this.directories) {
      for (const [g, table] of pending) await file.write(encodeTable(table), (await d.tableSector(g)) * SECTOR);
      await file.sync();
    }
    for (const [g, table] of pending) {
      for (const d of this.directories) d.remember(g, table);
      this.sparse.pendingTables.delete(g);
    }
  }
}
