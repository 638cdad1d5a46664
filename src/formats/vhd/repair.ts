import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import type { FileOpener } from '../../io/image-file.js';
import { FOOTER_SIZE } from './constants.js';
import { encodeDynamicHeader } from './dynamic-header.js';
import { encodeFooter, type Footer } from './footer.js';
import { readVhdLayout, type VhdLayout } from './layout.js';

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
 * from the footer, and the dynamic header checksum. Writes the header first,
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
    const endAt = l.footer.diskType === 'fixed' ? l.virtualSize : l.dataEnd;
    if (!l.endFooter || !sameContent(l.endFooter, footer) || !l.endFooter.checksumValid || file.size !== endAt + FOOTER_SIZE) {
      await file.write(encoded, endAt);
      if (file.size > endAt + FOOTER_SIZE) await file.truncate(endAt + FOOTER_SIZE);
      await file.sync();
      changes.push(l.endFooter ? 'rewrote the end footer' : `rebuilt the ${l.endFooterDamaged ? 'damaged' : 'missing'} end footer from the footer copy`);
    }
    if (l.footer.diskType !== 'fixed' && (!l.copyFooter || !l.copyFooter.checksumValid || !sameContent(l.copyFooter, footer))) {
      await file.write(encoded, 0);
      await file.sync();
      changes.push('rewrote the footer copy at offset 0');
    }
    return changes;
  } finally {
    await file.close();
  }
}

