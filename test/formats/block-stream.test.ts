import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlockStreamWriter } from '../../src/formats/block-stream.js';
import { rejectsWithCode } from '../helpers/assert-error.js';

/** A sink that keeps what it is given. */
function collector(): { write(buf: Uint8Array): Promise<void>; bytes(): Buffer } {
  const parts: Buffer[] = [];
  return {
    write: async (buf) => void parts.push(Buffer.from(buf)),
    bytes: () => Buffer.concat(parts),
  };
}

const b = (...xs: number[]) => Uint8Array.from(xs);

describe('BlockStreamWriter', () => {
  it('emits prefix, each stored block whole (head, zeros, data; the last padded), unwritten stored blocks as zeros, suffix', async () => {
    const sink = collector();
    const w = await BlockStreamWriter.start(sink, { virtualSize: 16, blockSize: 4, prefix: b(0xaa), blocks: [0, 2, 3], blockHead: (k) => b(0xb0 + k), suffix: b(0xff) });
    await w.put(b(1, 2), 1);
    await w.put(b(3), 3);
    await w.put(b(9, 9), 9 - 1);
    await w.finish();
    assert.deepEqual(
      [...sink.bytes()],
      [0xaa, 0xb0, 0, 1, 2, 3, 0xb1, 9, 9, 0, 0, 0xb2, 0, 0, 0, 0, 0xff],
    );
  });

  it('a piece crossing a block boundary is split between the blocks', async () => {
    const sink = collector();
    const w = await BlockStreamWriter.start(sink, { virtualSize: 8, blockSize: 4, blocks: [0, 1] });
    await w.put(b(1, 2, 3, 4, 5, 6), 1);
    await w.finish();
    assert.deepEqual([...sink.bytes()], [0, 1, 2, 3, 4, 5, 6, 0]);
  });

  it('refuses data out of guest order, or in a block the layout does not store (USAGE)', async () => {
    const w = await BlockStreamWriter.start(collector(), { virtualSize: 12, blockSize: 4, blocks: [0, 2] });
    await w.put(b(1), 2);
    await rejectsWithCode(w.put(b(1), 1), 'USAGE');
    await rejectsWithCode(w.put(b(1), 5), 'USAGE');
  });
});
