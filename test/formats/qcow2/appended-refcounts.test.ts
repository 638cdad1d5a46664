/**
 * Refcounts of a qcow2 written front to back: references add up per
 * cluster, a block closes into the cluster that opens the next block's
 * range and counts itself there, a full 16-bit count is reported, and the
 * tail covers every cluster up to the end of the refcount table, each
 * counted once, with table entries for every block.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppendedRefcounts } from '../../../src/formats/qcow2/appended-refcounts.js';

const CS = 512;
/** 16-bit refcounts in a 512-byte block. */
const PER_BLOCK = 256;

function counts(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length / 2 }, (_, i) => view.getUint16(i * 2, false));
}

describe('AppendedRefcounts', () => {
  it('adds one reference per cluster a range touches, and closes a block into the next range, which counts it', () => {
    const r = new AppendedRefcounts(CS);
    r.add(0, CS);
    r.add(CS + 100, CS + 200);
    r.add(CS + 400, 2 * CS + 10);
    assert.equal(r.blockEnd, PER_BLOCK * CS);
    const first = counts(r.close(r.blockEnd));
    assert.deepEqual(first.slice(0, 4), [1, 2, 1, 0]);
    assert.equal(r.blockEnd, 2 * PER_BLOCK * CS);
    const tail = r.tail((PER_BLOCK + 1) * CS, 1);
    const second = counts(tail.blocks);
    assert.deepEqual(second.slice(0, 4), [1, 1, 1, 1], 'the block itself, the L1 table, the block written in the tail, the refcount table');
    assert.equal(second[4], 0);
    assert.equal(tail.l1At, (PER_BLOCK + 1) * CS);
    assert.equal(tail.tableAt, (PER_BLOCK + 3) * CS);
    const table = new DataView(tail.table.buffer);
    assert.deepEqual([table.getBigUint64(0), table.getBigUint64(8), table.getBigUint64(16)], [BigInt(PER_BLOCK * CS), BigInt((PER_BLOCK + 2) * CS), 0n]);
  });

  it('reports a cluster whose count is full', () => {
    const r = new AppendedRefcounts(CS);
    for (let i = 0; i < 0xfffe; i++) r.add(0, 1);
    assert.ok(r.canAdd(10));
    r.add(0, 1);
    assert.ok(!r.canAdd(10), '65535 references fill a 16-bit count');
    assert.ok(r.canAdd(CS));
  });

  it('a tail that runs past the current block gets as many new blocks, and table clusters, as it needs', () => {
    const r = new AppendedRefcounts(CS);
    r.add(0, CS);
    const l1Clusters = 600;
    const tail = r.tail(CS, l1Clusters);
    const blocks = tail.blocks.length / CS;
    const end = (tail.tableAt + tail.tableClusters * CS) / CS;
    assert.equal(blocks, Math.ceil(end / PER_BLOCK), 'one block per 256 clusters up to the end');
    const all = counts(tail.blocks);
    assert.ok(all.slice(0, end).every((n) => n === 1), 'every cluster up to the end counted once');
    assert.ok(all.slice(end).every((n) => n === 0), 'nothing past the end');
    const table = new DataView(tail.table.buffer);
    for (let b = 0; b < blocks; b++) assert.equal(table.getBigUint64(b * 8), BigInt(tail.l1At + (l1Clusters + b) * CS));
  });
});
