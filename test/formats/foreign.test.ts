/**
 * Files of formats vdisk does not read are refused when probed, naming what
 * they are, instead of being read as raw disks; `-f raw` still reads them.
 * QED and Parallels images come from qemu-img itself; the other kinds are
 * their documented magic bytes.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { detectFormat, openImage } from '../../src/formats/registry.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { needTools, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir('vdisk-foreign-');

/** A 64 KiB file whose first bytes are `head` (and last bytes `tail`), zeros between. */
function file(name: string, head: Uint8Array | string, tail?: string): string {
  const bytes = new Uint8Array(65536);
  bytes.set(typeof head === 'string' ? Buffer.from(head, 'latin1') : head, 0);
  if (tail) bytes.set(Buffer.from(tail, 'latin1'), bytes.length - 512);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

const tarHeader = (): Uint8Array => {
  const b = new Uint8Array(512);
  b.set(Buffer.from('disk.ovf'), 0);
  b.set(Buffer.from('ustar\u000000'), 257);
  return b;
};

describe('files of other formats', () => {
  for (const [name, path, what] of [
    ['bochs', () => file('a.bochs', 'Bochs Virtual HD Image\0'), /Bochs disk image/],
    ['cloop', () => file('a.cloop', '#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0\n'), /cloop/],
    ['DMG', () => file('a.dmg', '', 'koly'), /Apple disk image/],
    ['E01', () => file('a.E01', new Uint8Array([0x45, 0x56, 0x46, 0x09, 0x0d, 0x0a, 0xff, 0x00])), /EnCase/],
    ['gzip', () => file('a.img.gz', gzipSync(Buffer.alloc(4096))), /gzip-compressed file.*zcat/],
    ['xz', () => file('a.img.xz', new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), /xz-compressed/],
    ['zstd', () => file('a.img.zst', new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x04])), /Zstandard-compressed/],
    ['bzip2', () => file('a.img.bz2', 'BZh91AY&SY'), /bzip2-compressed/],
    ['zip', () => file('a.zip', 'PK\x03\x04'), /ZIP archive/],
    ['7z', () => file('a.7z', new Uint8Array([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])), /7-Zip/],
    ['OVA (tar)', () => file('a.ova', tarHeader()), /tar archive \(an OVA/],
    ['OVF', () => file('a.ovf', '<?xml version="1.0"?>\n<Envelope>'), /XML file/],
    ['vmx', () => file('a.vmx', '.encoding = "UTF-8"\nconfig.version = "8"\n'), /\.vmx/],
  ] as const) {
    it(`${name} is refused, named, and read as raw with -f raw`, async () => {
      const p = path();
      const err = await rejectsWithCode(openImage(p), 'UNSUPPORTED');
      assert.match(err.message, what);
      assert.ok(err.message.startsWith(`${p}: this is a`), err.message);
      const raw = await openImage(p, { format: 'raw' });
      assert.equal(raw.virtualSize, 65536);
      await raw.close();
    });
  }

  it('raw disks with a boot sector, a FAT or NTFS volume, or zeros are still raw', async () => {
    const mbr = new Uint8Array(512);
    mbr.set([0xfa, 0x31, 0xc0], 0);
    mbr.set([0x55, 0xaa], 510);
    for (const [name, head] of [['mbr', mbr], ['fat', new Uint8Array([0xeb, 0x3c, 0x90])], ['ntfs', Buffer.from('\xebR\x90NTFS    ', 'latin1')], ['zeros', new Uint8Array(1)]] as const) {
      assert.equal(await detectFormat(file(`${name}.img`, head)), 'raw', name);
    }
  });

  it('QED and Parallels images qemu-img makes are refused, named', async (t) => {
    if (!needTools(t, 'qemu-img')) return;
    for (const [format, what] of [['qed', /QED image/], ['parallels', /Parallels disk image/]] as const) {
      const p = join(dir, `q.${format}`);
      run('qemu-img', ['create', '-f', format, p, '16M']);
      const err = await rejectsWithCode(openImage(p), 'UNSUPPORTED');
      assert.match(err.message, what);
    }
  });
});
