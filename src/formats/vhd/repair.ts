import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import type { FileOpener } from '../../io/image-file.js';
import { FOOTER_SIZE } from './constants.js';
import { encodeDynamicHeader } from './dynamic-header.js';
import { encodeFooter, type Footer } from './footer.js';
import { readVhdLayout, type VhdLayout } from './layout.js';
import { placeFooters, reclaimLeakedBlocks } from './reclaim.js';

function sameContent(a: Footer, b: Footer): boolean {
  return Buffer.from(encodeFooter(a.fields)).equals(Buffer.from(encodeFooter(b.fields)));
}

/** The footer to write back, or a refusal when picking one would be a guess. */
function trustedFooter(l: VhdLayout): Footer {
  const { endFooter: end, copyFooter: copy } = l;
  if (end?.checksumValid) return end;
  if (copy?.checksumValid && l.footer.diskType !== 'fixed') return copy;
  if (end && (!copy || sameContent(end, copy))) return end;
  if (!end && copy && l.footer.diskType !== 'fixed') {
    throw new DiskImageError('CORRUPT', 'the end footer is missing and the footer copy has a wrong checksum: rebuilding it would be a guess');
  }
  throw new DiskImageError('CORRUPT', 'the end footer and the footer copy both have wrong checksums and differ: choosing one would be a guess');
}

/**
 * Repairs what needs no guess: a footer checksum on an otherwise valid footer,
 * a missing or damaged end footer rebuilt from the copy, a footer copy rebuilt
 * from the footer, the dynamic header checksum, and leaked space (blocks moved
 * into gaps no BAT entry uses, unreferenced bytes after the last block cut off). Writes the header first,
 * then the end footer, then the copy, with an fsync after each, so a crash
 * leaves a file at least as readable as before. Returns what it changed.
 */
export async function repairVhd(path: string, openFile: FileOpener = openDiskFile): Promise<string[]> {
  const file = await openFile(path, 'write');
  try {
    const l = await readVhdLayout(file);
    const footer = trustedFooter(l);
    const encoded = encodeFooter(footer.fields);
    const changes: string[] = [];
    if (l.header && !l.header.checksumValid) {
      await file.write(encodeDynamicHeader(l.header.fields, l.header.locators), footer.dataOffset!);
      await file.sync();
      changes.push(`rewrote the dynamic header checksum (0x${l.header.expectedChecksum.toString(16)})`);
    }
    const endOk = l.endFooter && sameContent(l.endFooter, footer) && l.endFooter.checksumValid;
    const endChange = !l.endFooter
      ? `rebuilt the ${l.endFooterDamaged ? 'damaged' : 'missing'} end footer from the footer copy`
      : !endOk
        ? 'rewrote the end footer'
        : 'moved the end footer after the last block, dropping unreferenced space';
    if (l.bat) {
      const moved = await reclaimLeakedBlocks(file, l);
      if (moved > 0) changes.push(`moved ${moved} block(s) into leaked space`);
      const done = await placeFooters(file, l, footer.fields);
      if (done.end) changes.push(endChange);
      if (done.copy) changes.push('rewrote the footer copy at offset 0');
    } else if (!endOk || file.size !== l.footer.currentSize + FOOTER_SIZE) {
      const endAt = l.footer.currentSize;
      await file.write(encoded, endAt);
      if (file.size > endAt + FOOTER_SIZE) await file.truncate(endAt + FOOTER_SIZE);
      await file.sync();
      changes.push(endChange);
    }
    return changes;
  } finally {
    await file.close();
  }
}

