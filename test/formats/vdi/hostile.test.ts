/**
 * Hostile VDI headers and block arrays: each gets a coded error (or a
 * finding), never a crash, a hang or a large allocation.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openImage } from '../../../src/formats/registry.js';
import { check } from '../../../src/ops/check.js';
import { randomUuid } from '../../../src/util/uuid.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { tempDir } from '../../helpers/tmp.js';
import { buildVdi, type VdiSpec } from '../../helpers/vdi.js';

const MiB = 1024 * 1024;
const dir = tempDir();
let n = 0;

function file(bytes: Uint8Array): string {
  const path = join(dir, `h${n++}.vdi`);
  writeFileSync(path, bytes);
  return path;
}

const spec = (over: Partial<VdiSpec> = {}): VdiSpec => ({ diskSize: 4 * MiB, uuidCreate: randomUuid(), blocks: new Map([[1, new Uint8Array(MiB).fill(7)]]), ...over });

const CASES: { name: string; bytes: () => Uint8Array; code: 'CORRUPT' | 'UNSUPPORTED' | 'INVALID_FORMAT' }[] = [
  { name: 'a block size that is not a power of two', bytes: () => buildVdi(spec({ patch: { blockSize: 3 * 512 } })), code: 'CORRUPT' },
  { name: 'a 1 GiB block size', bytes: () => buildVdi(spec({ patch: { blockSize: 1024 * MiB } })), code: 'CORRUPT' },
  { name: 'cBlocks of 2^32 - 1 (a 16 GiB block array)', bytes: () => buildVdi(spec({ patch: { blocks: 0xffffffff } })), code: 'CORRUPT' },
  { name: 'a disk larger than its blocks', bytes: () => buildVdi(spec({ patch: { diskSize: 5n * BigInt(MiB) } })), code: 'CORRUPT' },
  { name: 'a disk size past 2^53', bytes: () => buildVdi(spec({ patch: { diskSize: 2n ** 60n, blocks: 4 } })), code: 'CORRUPT' },
  { name: 'a header size below VDIHEADER1', bytes: () => buildVdi(spec({ patch: { headerSize: 100 } })), code: 'CORRUPT' },
  { name: 'a block array inside the header', bytes: () => buildVdi(spec({ patch: { blocksOffset: 100 } })), code: 'CORRUPT' },
  { name: 'a block array past the end of the file', bytes: () => buildVdi(spec({ patch: { blocksOffset: 1 << 30 } })), code: 'CORRUPT' },
  { name: 'data inside the block array', bytes: () => buildVdi(spec({ patch: { dataOffset: 512 } })), code: 'CORRUPT' },
  { name: 'a data block past the end of the file', bytes: () => buildVdi(spec({ patch: { dataOffset: 0x7fffffff } })), code: 'CORRUPT' },
  { name: 'an undo image (type 3)', bytes: () => buildVdi(spec({ type: 3 })), code: 'UNSUPPORTED' },
  { name: 'an unknown image type', bytes: () => buildVdi(spec({ type: 77 })), code: 'CORRUPT' },
  { name: 'version 2.0', bytes: () => { const b = buildVdi(spec()); new DataView(b.buffer).setUint32(68, 0x00020000, true); return b; }, code: 'UNSUPPORTED' },
  { name: 'a header size past the end of the file', bytes: () => buildVdi(spec({ blocks: new Map(), patch: { headerSize: 1000 } })).slice(0, 1024 + 512), code: 'CORRUPT' },
  { name: 'a file cut inside the header', bytes: () => buildVdi(spec()).slice(0, 200), code: 'CORRUPT' },
];

for (const c of CASES) {
  test(`hostile VDI: ${c.name} is ${c.code}`, async () => {
    await rejectsWithCode(openImage(file(c.bytes())), c.code);
  });
}

test('hostile VDI: two guest blocks sharing one data block and a wrong allocated count are check findings, and reads stay in bounds', async () => {
  const bytes = buildVdi(spec({ patch: { blocksAllocated: 9 } }));
  new DataView(bytes.buffer).setUint32(512 + 3 * 4, 0, true);
  const path = file(bytes);
  const codes = (await check(path)).findings.map((f) => f.code).sort();
  assert.deepEqual(codes, ['ALLOCATED_COUNT', 'SHARED_BLOCK']);
});

test('hostile VDI: a data block cut short by the end of the file reads zeros past it, with a warning', async () => {
  const bytes = buildVdi(spec());
  const image = await openImage(file(bytes.slice(0, bytes.length - 4096)));
  try {
    assert.match(image.warnings.join('\n'), /run past the end of the file/);
    const tail = new Uint8Array(4096);
    await image.readAt(tail, 2 * MiB - 4096);
    assert.ok(tail.every((x) => x === 0));
  } finally {
    await image.close();
  }
});

test('hostile VDI: differencing images whose parent UUIDs form a loop, or name themselves, are PARENT errors', async () => {
  const loop = tempDir();
  const a = randomUuid();
  const b = randomUuid();
  writeFileSync(join(loop, 'a.vdi'), buildVdi({ diskSize: MiB, uuidCreate: a, uuidLinkage: b }));
  writeFileSync(join(loop, 'b.vdi'), buildVdi({ diskSize: MiB, uuidCreate: b, uuidLinkage: a }));
  await rejectsWithCode(openImage(join(loop, 'a.vdi')), 'PARENT');
  const self = tempDir();
  writeFileSync(join(self, 's.vdi'), buildVdi({ diskSize: MiB, uuidCreate: a, uuidLinkage: a }));
  await rejectsWithCode(openImage(join(self, 's.vdi')), 'PARENT');
});
