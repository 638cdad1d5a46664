import { resolveBeside } from '../../chain/resolve.js';
import { DiskImageError } from '../../errors.js';
import { openSource } from '../../io/open-source.js';
import type { OpenOptions } from '../types.js';
import { INCOMPAT_CORRUPT, INCOMPAT_DIRTY } from './constants.js';
import { hasBit } from './header.js';
import type { Qcow2Parts } from './parts.js';
import { openMap, openQcow2Layer, type PartsAccess } from './read-format.js';
import { Qcow2Layer } from './reader.js';
import { RefcountWriter } from './refcount-writer.js';
import { WritableQcow2Layer } from './writer.js';

/** The node defaults of what openParts needs: DiskFile and the directory resolver unless `options` name others. */
export function nodeAccess(options: OpenOptions): PartsAccess {
  return { openFile: options.openFile ?? openSource, resolveBeside: options.resolveBeside ?? resolveBeside, snapshot: options.snapshot };
}

/**
 * Why vdisk will not write this image, or undefined when it will: the
 * corrupt bit, the dirty bit (refcounts stale until repaired), internal
 * snapshots (their clusters are shared), an external data file, a snapshot
 * opened instead of the active L1 table.
 */
function writeRefusal(parts: Qcow2Parts): string | undefined {
  const h = parts.header;
  if (hasBit(h.incompatible, INCOMPAT_CORRUPT)) return 'its corrupt bit is set (repair it with qemu-img check -r all first)';
  if (hasBit(h.incompatible, INCOMPAT_DIRTY)) return 'its dirty bit is set: its refcounts may be stale (repair them with qemu-img check -r all first)';
  if (h.nbSnapshots > 0 || parts.snapshot) return `it holds ${h.nbSnapshots} internal snapshot(s), whose clusters it shares; vdisk does not write such images`;
  if (parts.dataFile) return 'it keeps its data in an external data file, which vdisk does not write';
  return undefined;
}

/** Opens one qcow2 layer (writable when `options.writable`); chain/ opens its backing file from the layer's parentRef. */
export async function openQcow2(path: string, options: OpenOptions): Promise<Qcow2Layer> {
  const access = nodeAccess(options);
  return openQcow2Layer(path, await access.openFile(path, options.writable ? 'write' : 'read'), access, async (parts, ref) => {
    if (!options.writable) return new Qcow2Layer(parts, await openMap(parts), ref);
    const refused = writeRefusal(parts);
    if (refused) throw new DiskImageError('UNSUPPORTED', `${path}: vdisk will not write this qcow2 image: ${refused}`, { path });
    const refs = await RefcountWriter.open(parts.file, parts.header, parts.budget);
    return new WritableQcow2Layer(parts, await openMap(parts, () => refs.end), ref, refs);
  });
}
