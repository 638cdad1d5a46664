import assert from 'node:assert/strict';
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repairVhd } from '../../../src/formats/vhd/repair.js';
import { check } from '../../../src/ops/check.js';
import { buildChain, viewOf } from '../../helpers/chain.js';
import { Recorder, crashStates, materialise, snapshot } from '../../helpers/fault-file.js';
import { tempDir } from '../../helpers/tmp.js';

const KiB = 1024;
const B = 512 * KiB;

/** Damages a clean dynamic VHD: a leaked block (its BAT entry cleared), junk after the last block, bad header and footer checksums. */
function damage(path: string): void {
  const fd = openSync(path, 'r+');
  const size = statSync(path).size;
  writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, 1536 + 4 * 4);
  const footer = Buffer.alloc(512);
  readSync(fd, footer, 0, 512, size - 512);
  writeSync(fd, Buffer.alloc(B, 0x77), 0, B, size - 512);
  footer[84] ^= 1;
  writeSync(fd, footer, 0, 512, size - 512 + B);
  writeSync(fd, Buffer.from([0x42]), 0, 1, 512 + 64 + 100);
  closeSync(fd);
}

test('check --repair survives a power cut at every flush point', async () => {
  const dir = tempDir();
  const [path] = await buildChain(dir, 8 * 1024 * KiB, [[[0, 2 * B, 1], [4 * B, B, 0], [5 * B, B, 2], [9 * B, 3 * B, 3], [15 * B, B, 4]]]);
  damage(path!);
  const before = await check(path!);
  assert.equal(before.result, 'corruption');
  const expected = await viewOf(path!);
  const initial = snapshot([path!]);
  const rec = new Recorder();
  const changes = await repairVhd(path!, rec.opener);
  assert.ok(changes.length >= 3, changes.join('; '));
  assert.equal((await check(path!)).result, 'clean');
  assert.deepEqual(await viewOf(path!), expected);

  let n = 0;
  for (const state of crashStates(initial, rec.events)) {
    const at = await materialise(state, join(dir, `state${n++}`));
    const copy = at.get(path!)!;
    assert.deepEqual(await viewOf(copy), expected, `view after a cut ${state.description}`);
    await repairVhd(copy);
    const report = await check(copy);
    assert.equal(report.result, 'clean', `${state.description}: ${JSON.stringify(report.findings)}`);
    assert.deepEqual(await viewOf(copy), expected);
  }
  assert.ok(n >= 10, `only ${n} crash states`);
});
