import { DiskImageError } from '../../errors.js';
import { assertWithin, roundUp } from '../../util/checked.js';
import type { ImageFile } from '../../io/image-file.js';
import { bitmapBytes, readBat, type MetadataRange } from './bat.js';
import { BAT_UNUSED, FOOTER_SIZE, HEADER_SIZE, SECTOR } from './constants.js';
import { decodeDynamicHeader, type DynamicHeader } from './dynamic-header.js';
import { vhdChecksum } from './checksum.js';
import { FOOTER_CHECKSUM_OFFSET, decodeFooter, hasFooterCookie, type Footer } from './footer.js';
import { decodeLocatorPath, locatorsInUse, type DecodedLocator } from './parent-locator.js';
import { vdiskSize, type SizeRule } from './size-rule.js';

/** Everything read from a VHD file's metadata, validated, before any parent is opened. */
export interface VhdLayout {
  /** The footer in use (the end footer, or the copy at offset 0 when the end one is missing or damaged). */
  footer: Footer;
  footerSource: 'end' | 'copy';
  endFooter?: Footer;
  copyFooter?: Footer;
  header?: DynamicHeader;
  bat?: Uint32Array;
  locators: DecodedLocator[];
  virtualSize: number;
  sizeRule: SizeRule;
  /** Where new blocks go: just past every structure (and where the end footer belongs). */
  dataEnd: number;
  /** True when the last 512 bytes hold a footer cookie but nothing usable. */
  endFooterDamaged: boolean;
  /** Problems that did not stop reading. */
  warnings: string[];
}

/**
 * The footer at `offset`: undefined when there is no cookie, 'damaged' when its
 * fields are invalid and its checksum is wrong too (so a copy may stand in).
 */
async function readFooterAt(file: ImageFile, offset: number): Promise<Footer | 'damaged' | undefined> {
  if (offset < 0 || offset + FOOTER_SIZE > file.size) return undefined;
  const buf = new Uint8Array(FOOTER_SIZE);
  await file.read(buf, offset);
  if (!hasFooterCookie(buf)) return undefined;
  try {
    return decodeFooter(buf, `offset ${offset}`);
  } catch (err) {
    if (vhdChecksum(buf, FOOTER_CHECKSUM_OFFSET) !== new DataView(buf.buffer).getUint32(FOOTER_CHECKSUM_OFFSET)) return 'damaged';
    throw err;
  }
}

/** Picks the footer to trust, preferring a valid end footer, then a valid copy, and says why. */
function chooseFooter(end: Footer | undefined, copy: Footer | undefined, endDamaged: boolean, warnings: string[], path: string): { footer: Footer; source: 'end' | 'copy' } {
  if (end && (end.checksumValid || !copy?.checksumValid)) {
    if (!end.checksumValid) warnings.push(`footer checksum is 0x${hex(end.fields.checksum)}, expected 0x${hex(end.expectedChecksum)}; reading anyway (vdisk check --repair fixes it)`);
    return { footer: end, source: 'end' };
  }
  if (copy && copy.diskType !== 'fixed') {
    const why = end ? 'end footer checksum is wrong' : endDamaged ? 'end footer is damaged (invalid fields, wrong checksum)' : 'no footer at the end of the file (truncated, or a merge that did not finish)';
    warnings.push(`${why}; using the footer copy at offset 0`);
    if (!copy.checksumValid) warnings.push('footer copy checksum is wrong too');
    return { footer: copy, source: 'copy' };
  }
  throw new DiskImageError('INVALID_FORMAT', `${path}: no VHD footer at the end of the file or at offset 0`, { path });
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** Reads and validates the footer(s), dynamic header, parent locators and BAT of a VHD. */
export async function readVhdLayout(file: ImageFile): Promise<VhdLayout> {
  const warnings: string[] = [];
  const endRead = await readFooterAt(file, file.size - FOOTER_SIZE);
  const copyRead = file.size >= FOOTER_SIZE + SECTOR ? await readFooterAt(file, 0) : undefined;
  const endFooter = endRead === 'damaged' ? undefined : endRead;
  const copyFooter = copyRead === 'damaged' ? undefined : copyRead;
  const { footer, source } = chooseFooter(endFooter, copyFooter, endRead === 'damaged', warnings, file.path);
  const { size: virtualSize, rule: sizeRule } = vdiskSize(footer);
  const dataLimit = source === 'end' ? file.size - FOOTER_SIZE : file.size;
  if (footer.diskType === 'fixed') {
    if (source === 'end' && dataLimit < virtualSize) {
      throw new DiskImageError('CORRUPT', `${file.path}: fixed VHD holds ${dataLimit} bytes of data but its footer says ${virtualSize}`, {
        field: 'currentSize',
        value: virtualSize,
        limit: dataLimit,
      });
    }
    return { footer, footerSource: source, endFooter, copyFooter, endFooterDamaged: endRead === 'damaged', locators: [], virtualSize, sizeRule, dataEnd: virtualSize, warnings };
  }
  if (endFooter && copyFooter && source === 'end' && !Buffer.from(endFooter.fields.uniqueId).equals(Buffer.from(copyFooter.fields.uniqueId))) {
    warnings.push('footer copy at offset 0 differs from the end footer (different UUID)');
  }
  const headerOffset = footer.dataOffset;
  if (headerOffset === undefined || headerOffset % SECTOR !== 0) {
    throw new DiskImageError('CORRUPT', `${file.path}: dynamic VHD footer has data offset ${headerOffset ?? 'none'}, not a sector offset`, { field: 'dataOffset' });
  }
  assertWithin('dynamic disk header', headerOffset, HEADER_SIZE, dataLimit);
  const hbuf = new Uint8Array(HEADER_SIZE);
  await file.read(hbuf, headerOffset);
  const header = decodeDynamicHeader(hbuf, headerOffset);
  if (!header.checksumValid) warnings.push(`dynamic header checksum is 0x${hex(header.fields.checksum)}, expected 0x${hex(header.expectedChecksum)}; reading anyway`);
  const locators = footer.diskType === 'differencing' ? await readLocators(file, header, dataLimit) : [];
  const batBytes = roundUp(header.maxTableEntries * 4, SECTOR);
  const metadata: MetadataRange[] = [
    { what: 'dynamic header', offset: headerOffset, length: HEADER_SIZE },
    { what: 'BAT', offset: header.tableOffset, length: Math.min(batBytes, Math.max(0, dataLimit - header.tableOffset)) },
    ...locators.filter((l) => !l.error).map((l) => ({ what: `${l.code} locator data`, offset: l.offset, length: l.length })),
  ];
  if (copyFooter) metadata.push({ what: 'footer copy', offset: 0, length: FOOTER_SIZE });
  const bat = await readBat(file, header, virtualSize, dataLimit, metadata);
  const dataEnd = roundUp(Math.max(...metadata.map((m) => m.offset + Math.max(m.length, 1)), ...blockEnds(bat, header.blockSize)), SECTOR);
  return { footer, footerSource: source, endFooter, copyFooter, endFooterDamaged: endRead === 'damaged', header, bat, locators, virtualSize, sizeRule, dataEnd, warnings };
}

function blockEnds(bat: Uint32Array, blockSize: number): number[] {
  let max = 0;
  for (const e of bat) if (e !== BAT_UNUSED) max = Math.max(max, e);
  return max === 0 ? [] : [max * SECTOR + bitmapBytes(blockSize) + blockSize];
}

async function readLocators(file: ImageFile, header: DynamicHeader, limit: number): Promise<DecodedLocator[]> {
  const locators = locatorsInUse(header.locators, limit);
  for (const loc of locators) {
    if (loc.error) continue;
    const data = new Uint8Array(loc.length);
    await file.read(data, loc.offset);
    try {
      decodeLocatorPath(loc, data);
    } catch (err) {
      loc.error = err instanceof Error ? err.message : String(err);
    }
  }
  return locators;
}
