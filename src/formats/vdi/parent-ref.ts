import { ANY_FILE, type Layer, type ParentRef } from '../layer.js';
import { formatVdiUuid, parseVdiHeader, type VdiHeader } from './header.js';
import { VdiLayer } from './reader.js';

/** The uuidCreate of a VDI layer (undefined for other formats), read from its header: describe() would count every block. */
function uuidOf(layer: Layer): string | undefined {
  return layer instanceof VdiLayer ? formatVdiUuid(layer.header.uuidCreate) : undefined;
}

/**
 * How a differencing VDI names its parent: only by identity. Its header
 * holds uuidLinkage, the parent's uuidCreate (VDICore.h: "UUID of previous
 * image"), and no file name: VirtualBox finds the parent in its media
 * registry. So every .vdi file in the child's directory and in each
 * --parent-dir is a candidate, then every other file there (a VDI named
 * disk.img is still one: `vdisk snapshot disk.img child.vdi` makes such a
 * chain), and the one whose UUID is uuidLinkage is the parent; the parent
 * must be as large as the child. Candidates are first judged by their
 * header alone, so a folder of sibling snapshots is not opened chain by
 * chain.
 */
export function vdiParentRef(header: VdiHeader): ParentRef {
  const want = formatVdiUuid(header.uuidLinkage);
  return {
    candidates: [
      { source: 'a .vdi file in the allowed directories', path: '*.vdi', anyWithExtension: 'vdi' },
      { source: 'another file in the allowed directories', path: '*', anyWithExtension: ANY_FILE },
    ],
    expected: `UUID ${want} (uuidLinkage)`,
    identityOf: (p) => {
      const got = uuidOf(p);
      return got && `UUID ${got}`;
    },
    matches: (p) => uuidOf(p) === want,
    headMatches: (head) => {
      try {
        return formatVdiUuid(parseVdiHeader('candidate', head, Infinity).uuidCreate) === want;
      } catch {
        return false;
      }
    },
    refuseSize: (size) => (size === header.diskSize ? undefined : `is ${size} bytes, the child ${header.diskSize}`),
  };
}

