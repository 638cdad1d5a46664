import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { PAGE_CHOICES } from '../../src/browser/output-choices.js';
import { pageOutput } from '../../src/browser/page-outputs.js';
import { StreamCompressor } from '../../src/browser/stream-compressor.js';
import { PROFILES } from '../../src/targets/profiles.js';
import { profileOutput } from '../../src/targets/profile-output.js';

/**
 * The page's outputs in Node (CompressionStream is a global in Node 20 as in
 * browsers): the menu resolves as `vdisk convert` resolves `--target` and
 * `-O`, and the browser's compressor frames zlib units as the Node pool does.
 * The page writing them is tested in chromium (outputs.test.ts).
 */

describe('page outputs', () => {
  it('a target writes what convert --target writes: the same format, options and size unit', () => {
    for (const p of PROFILES) {
      const cli = profileOutput(p);
      const page = pageOutput({ target: p.name });
      assert.deepEqual([page.format, page.options, page.sizeMultiple], [cli.format, { ...cli.defaults, ...cli.options }, p.sizeMultiple], p.name);
    }
  });

  it('every menu entry resolves; an unknown target or format is a USAGE error', () => {
    for (const { choice } of PAGE_CHOICES) assert.ok(pageOutput(choice).writer, JSON.stringify(choice));
    assert.throws(() => pageOutput({ target: 'nutanix' }), { code: 'USAGE', message: /unknown target 'nutanix'/ });
    assert.throws(() => pageOutput({ format: 'qed', options: {} }), { code: 'USAGE', message: /not qed/ });
  });
});

describe('StreamCompressor', () => {
  const unit = 64 * 1024;
  const text = new Uint8Array(Buffer.from(Array.from({ length: unit / 32 }, (_, i) => `byte ${i * 32}`.padEnd(31, '.') + '\n').join(''), 'latin1'));

  it('frames each zlib unit behind its head room, padded to the alignment, and each inflates back to its unit', async () => {
    const c = new StreamCompressor({ codec: 'zlib', framing: { head: 12, align: 512 } });
    const data = new Uint8Array(c.batchBytes(unit, 2));
    data.set(text, 0);
    data.set(text.map((b) => b ^ 1), unit);
    const r = await c.run({ data, unitBytes: unit, count: 2 });
    assert.equal(r.units.length, 2);
    for (const [k, u] of r.units.entries()) {
      assert.equal(u.at % 512, 0);
      assert.equal(u.stored, false);
      assert.ok(u.length < unit / 4, `text compresses (${u.length} bytes)`);
      assert.deepEqual(r.out.subarray(u.at, u.at + 12), new Uint8Array(12), 'the head room is zero');
      assert.deepEqual(new Uint8Array(inflateSync(r.out.subarray(u.at + 12, u.at + 12 + u.length))), data.subarray(k * unit, (k + 1) * unit));
    }
    assert.equal(r.out.length, r.units[1]!.at + Math.ceil((12 + r.units[1]!.length) / 512) * 512);
    assert.equal(r.out.buffer.byteLength, c.batchBytes(unit, 2), 'the result buffer can be reused as a batch');
  });

  it('stores a unit that does not shrink below storeFrom as it is', async () => {
    const c = new StreamCompressor({ codec: 'zlib', storeFrom: unit });
    const noise = new Uint8Array(randomBytes(unit));
    const r = await c.run({ data: noise, unitBytes: unit, count: 1 });
    assert.deepEqual(r.units, [{ at: 0, length: unit, stored: true }]);
    assert.deepEqual(r.out, noise);
  });

  it('refuses the codecs it cannot write: deflate with a 4 KiB window (qcow2) and zstd', () => {
    for (const codec of ['deflate-raw', 'zstd'] as const) assert.throws(() => new StreamCompressor({ codec }), { code: 'UNSUPPORTED' });
  });
});
