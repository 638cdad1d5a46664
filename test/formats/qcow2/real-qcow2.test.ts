// Real qcow2 images from other tools (../shared/fixtures/real, see
// PROVENANCE.md): dfvfs's ext2.qcow2 (version 3, plain) and image.qcow2
// (version 2 with a zlib-compressed cluster) read to the guest sha256
// EXPECTED.tsv records, check clean, and qcowinfo agrees on their size.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { needTools, run } from '../../helpers/oracles.js';
import { realImagesReadClean } from '../../helpers/real-images.js';

test('every real qcow2 reads to the guest sha256 EXPECTED.tsv records, checks clean, and qcowinfo agrees on its size', (t) =>
  realImagesReadClean(t, 'qcow2', 2, (t2, img) => {
    if (!needTools(t2, 'qcowinfo')) return;
    const text = run('qcowinfo', [img.path]).stdout;
    assert.match(text, new RegExp(`Media size\\s*:.*\\(${img.virtualSize} bytes\\)`), text);
  }));
