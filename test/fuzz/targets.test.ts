/**
 * The CI budget of the fuzz harness (fuzz/, docs/security.md): every
 * format's target runs 200 mutants with a fixed seed and must end without a
 * finding (an exception other than DiskImageError, a hang, memory over the
 * limit). The mutants must both open and be refused, so the mutator reaches
 * past the checksum gates and the parsers' refusals alike.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DiskImageError } from '../../src/errors.js';
import { fuzzFormat } from '../../fuzz/harness.js';
import { MemorySandbox } from '../../fuzz/sandbox.js';
import { FUZZ_FORMATS } from '../../fuzz/seeds.js';

describe('fuzz targets (CI budget)', () => {
  for (const format of FUZZ_FORMATS) {
    it(`${format}: 200 mutants, no finding`, async () => {
      const report = await fuzzFormat(format, { seed: 20, runs: 200 });
      assert.equal(report.mutants, 200);
      assert.deepEqual(report.findings.map((f) => `${f.kind} #${f.index} (${f.seed}): ${f.steps.join('; ')}\n${f.detail}`), []);
      assert.ok(report.opened > 0, `${format}: no mutant opened`);
      if (format !== 'raw') assert.ok([...report.refused.values()].reduce((a, b) => a + b, 0) > 30, `${format}: few mutants refused: ${JSON.stringify([...report.refused])}`);
    });
  }

  it('the sandbox serves only the loaded set, read-only', async () => {
    const sandbox = new MemorySandbox();
    try {
      const top = sandbox.load(new Map([['a.img', new Uint8Array(1024).fill(7)]]), 'a.img');
      const file = await sandbox.opener(top, 'read');
      const buf = new Uint8Array(4);
      await file.read(buf, 1020);
      assert.deepEqual([...buf], [7, 7, 7, 7]);
      await assert.rejects(file.read(buf, 1021), (e: unknown) => e instanceof DiskImageError && e.code === 'CORRUPT');
      await assert.rejects(sandbox.opener(join(sandbox.dir, 'b.img'), 'read'), (e: unknown) => e instanceof DiskImageError && e.code === 'IO');
      await assert.rejects(sandbox.opener('/etc/passwd', 'read'), (e: unknown) => e instanceof DiskImageError && e.code === 'IO');
      await assert.rejects(sandbox.opener(top, 'write'), (e: unknown) => e instanceof DiskImageError && e.code === 'USAGE');
    } finally {
      sandbox.dispose();
    }
  });
});
