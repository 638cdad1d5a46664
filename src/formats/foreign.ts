import { DiskImageError } from '../errors.js';

/**
 * Files that are not disks vdisk reads, known by their first or last bytes:
 * other hypervisors' formats, archives and VM descriptors. Probing would
 * otherwise take them for raw disks (raw matches anything), and a convert
 * would write the container's bytes as the guest's disk without a word.
 * `-f raw` still reads any of them as raw bytes.
 */
interface ForeignSignature {
  /** What the file is, for the message. */
  name: string;
  /** What to do instead. */
  hint: string;
  /** True when the file's first bytes (`head`) and last 512 (`tail`) are this kind's. */
  matches(head: Uint8Array, tail: Uint8Array): boolean;
}

/** True when `bytes` hold `magic` (a latin1 string or byte values) at `at`. */
function has(bytes: Uint8Array, at: number, magic: string | number[]): boolean {
  const values = typeof magic === 'string' ? [...magic].map((c) => c.charCodeAt(0)) : magic;
  if (at + values.length > bytes.length) return false;
  return values.every((v, i) => bytes[at + i] === v);
}

const CONVERT_WITH_QEMU = 'convert it with qemu-img to raw or qcow2 first';
const UNPACK = 'unpack it and give vdisk the disk image inside';

/** The signatures, with where each magic is defined. */
const SIGNATURES: ForeignSignature[] = [
  // qemu block/parallels.c HEADER_MAGIC and HEADER_MAGIC2.
  { name: 'Parallels disk image', hint: CONVERT_WITH_QEMU, matches: (h) => has(h, 0, 'WithoutFreeSpace') || has(h, 0, 'WithouFreSpacExt') },
  // qemu block/qed.h QED_MAGIC ('Q' | 'E' << 8 | 'D' << 16, little-endian).
  { name: 'QED image', hint: CONVERT_WITH_QEMU, matches: (h) => has(h, 0, [0x51, 0x45, 0x44, 0x00]) },
  // qemu block/bochs.c HEADER_MAGIC.
  { name: 'Bochs disk image', hint: CONVERT_WITH_QEMU, matches: (h) => has(h, 0, 'Bochs Virtual HD Image') },
  // qemu block/cloop.c cloop_probe: the shell header of a compressed loop image.
  { name: 'cloop compressed image', hint: CONVERT_WITH_QEMU, matches: (h) => has(h, 0, '#!/bin/sh\n#V2.0 Format\n') },
  // Apple UDIF: the 512-byte "koly" trailer ends the file (qemu block/dmg.c).
  { name: 'Apple disk image (DMG)', hint: CONVERT_WITH_QEMU, matches: (_h, t) => t.length === 512 && has(t, 0, 'koly') },
  // libewf's EWF-E01 signature "EVF\x09\x0d\x0a\xff\x00".
  { name: 'EnCase evidence file (E01)', hint: 'export it to a raw image with ewfexport first', matches: (h) => has(h, 0, [0x45, 0x56, 0x46, 0x09, 0x0d, 0x0a, 0xff, 0x00]) },
  // RFC 1952 (gzip), the xz and Zstandard frame magics, bzip2's "BZh" + block size + block magic, PKZIP's local header, 7-Zip's signature.
  { name: 'gzip-compressed file', hint: 'decompress it first (zcat FILE | vdisk convert -f raw - OUT for a raw disk)', matches: (h) => has(h, 0, [0x1f, 0x8b, 0x08]) },
  { name: 'xz-compressed file', hint: 'decompress it first (xzcat FILE | vdisk convert -f raw - OUT for a raw disk)', matches: (h) => has(h, 0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { name: 'Zstandard-compressed file', hint: 'decompress it first (zstdcat FILE | vdisk convert -f raw - OUT for a raw disk)', matches: (h) => has(h, 0, [0x28, 0xb5, 0x2f, 0xfd]) },
  { name: 'bzip2-compressed file', hint: 'decompress it first (bzcat FILE | vdisk convert -f raw - OUT for a raw disk)', matches: (h) => has(h, 0, 'BZh') && h[3]! >= 0x31 && h[3]! <= 0x39 && has(h, 4, [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]) },
  { name: 'ZIP archive', hint: UNPACK, matches: (h) => has(h, 0, [0x50, 0x4b, 0x03, 0x04]) },
  { name: '7-Zip archive', hint: UNPACK, matches: (h) => has(h, 0, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]) },
  // POSIX tar's "ustar" magic at byte 257: an OVA, an XVA export, a tarball.
  { name: 'tar archive (an OVA or XVA export?)', hint: `${UNPACK} (tar xf FILE)`, matches: (h) => has(h, 257, 'ustar') },
  // An XML document (OVF, VirtualBox .vbox, libvirt domain) or a VMware .vmx: a VM's description, not its disk.
  { name: 'XML file (an OVF or .vbox VM description?)', hint: 'give vdisk the disk file it names', matches: (h) => has(h, 0, '<?xml') || has(h, 0, [0xef, 0xbb, 0xbf, 0x3c, 0x3f, 0x78, 0x6d, 0x6c]) },
  { name: 'VMware .vmx VM description', hint: 'give vdisk the .vmdk it names (scsi0:0.fileName)', matches: (h) => has(h, 0, '.encoding = "') || has(h, 0, 'config.version = "') },
];

/**
 * Throws UNSUPPORTED when the file is one of the known kinds vdisk does not
 * read (SIGNATURES), naming it and what to do; returns otherwise. Called by
 * the raw format's probe, which is tried last.
 */
export function refuseForeign(head: Uint8Array, tail: Uint8Array): void {
  const found = SIGNATURES.find((s) => s.matches(head, tail));
  if (found) {
    throw new DiskImageError('UNSUPPORTED', `this is a ${found.name}, not a disk image vdisk reads: ${found.hint}; -f raw reads its bytes as a raw disk anyway`, { format: found.name });
  }
}
