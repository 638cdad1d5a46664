/**
 * The mutator's field models (fuzz/fields.ts) take any bytes: a kept mutant
 * may be truncated anywhere, even inside its header, and is mutated again.
 * A model that read past the end threw in the harness itself and ended a
 * long run (the VMDK model, reading the grain directory offset of a file
 * shorter than its header).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MODELS } from '../../fuzz/fields.js';
import { FUZZ_FORMATS, seedsFor } from '../../fuzz/seeds.js';

test('every format model lists fields inside the bytes, and fixes checksums, for every truncation of its seeds', async () => {
  for (const format of FUZZ_FORMATS) {
    const model = MODELS[format];
    for (const seed of await seedsFor(format, undefined)) {
      const whole = seed.files.get(seed.top)!;
      const lengths = [...Array.from({ length: 700 }, (_, n) => n), 4096, 65536, whole.length >> 1, whole.length - 1];
      for (const n of lengths) {
        const bytes = whole.slice(0, Math.min(n, whole.length));
        for (const f of model.fields(bytes)) assert.ok(f.at >= 0 && f.at + f.width <= bytes.length, `${seed.name} cut to ${n}: field at ${f.at}`);
        model.fixChecksums(bytes);
      }
    }
  }
});
