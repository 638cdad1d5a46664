import { DiskImageError } from '../../errors.js';
import { uuidEqual } from '../../util/uuid.js';
import { Item, KiB64 } from './constants.js';
import type { VhdxLayout } from './layout.js';
import { decodeMetadataTable } from './metadata.js';
import { encodeMetadataEntry, metadataEntryOffset } from './metadata-writer.js';
import { decodeParentLocator, encodeParentLocator } from './parent-locator.js';
import { parentLocatorEntries } from './parent-link.js';
import type { VhdxLayer } from './reader.js';

/** Metadata items are 4 KiB aligned in files vdisk writes. */
const ITEM_ALIGN = 4096;

/**
 * The first 4 KiB-aligned offset from 64 KiB where `length` bytes fit between
 * the items in use (space of locators replaced earlier is free again).
 */
function freeSpace(entries: { offset: number; length: number }[], length: number, regionLength: number): number | undefined {
  const used = entries.filter((e) => e.length > 0).sort((a, b) => a.offset - b.offset);
  let at = KiB64;
  for (const e of used) {
    if (at + length <= e.offset) return at;
    at = Math.max(at, Math.ceil((e.offset + e.length) / ITEM_ALIGN) * ITEM_ALIGN);
  }
  return at + length <= regionLength ? at : undefined;
}

/**
 * Rewrites a differencing VHDX's parent locator for a new parent: the new
 * item goes to free space in the metadata region, fsync; then the one 32-byte
 * table entry is switched to it (a single sector write), fsync. A crash leaves
 * either the old or the new locator in force.
 */
export async function setParentLocator(childPath: string, layout: VhdxLayout, parent: VhdxLayer, upcoming?: Uint8Array): Promise<void> {
  const { file } = layout;
  const region = layout.regions.metadata;
  const table = new Uint8Array(KiB64);
  await file.read(table, region.offset);
  const entries = decodeMetadataTable(table, region);
  const index = entries.findIndex((e) => uuidEqual(e.itemId, Item.parentLocator));
  if (index < 0) throw new DiskImageError('CORRUPT', `${childPath}: differencing VHDX has no parent locator item`);
  const item = encodeParentLocator(parentLocatorEntries(childPath, parent, upcoming));
  const at = freeSpace(entries, item.length, region.length);
  if (at === undefined) throw new DiskImageError('UNSUPPORTED', `${childPath}: no room left in the VHDX metadata region for a new parent locator`);
  await file.write(item, region.offset + at);
  await file.sync();
  const e = entries[index]!;
  const flags = (e.isUser ? 1 : 0) | (e.isVirtualDisk ? 2 : 0) | (e.isRequired ? 4 : 0);
  await file.write(encodeMetadataEntry(e.itemId, at, item.length, flags), region.offset + metadataEntryOffset(index));
  await file.sync();
  layout.metadata.parentLocator = decodeParentLocator(item);
}
