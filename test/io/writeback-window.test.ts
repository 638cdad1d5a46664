import assert from 'node:assert/strict';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileHelper } from '../../src/io/native.js';
import { WINDOW_BYTES, WritebackWindow } from '../../src/io/writeback-window.js';
import { tempDir } from '../helpers/tmp.js';

const native = fileHelper.kind === 'native' ? false : 'no native helper';

/** A file with one byte written, and a window over it whose datasync is `datasync`. */
function windowOver(datasync: () => Promise<void>): { window: WritebackWindow; close: () => void } {
  const fd = openSync(join(tempDir(), 'w.raw'), 'w+');
  writeSync(fd, new Uint8Array([1]), 0, 1, 0);
  const window = WritebackWindow.for(fd, datasync);
  assert.ok(window, 'the native helper starts writeback');
  return { window, close: () => closeSync(fd) };
}

test('a window settles once a window of writes is queued, not before', { skip: native }, async () => {
  let syncs = 0;
  const { window, close } = windowOver(async () => void syncs++);
  await window.written({ offset: 0, length: WINDOW_BYTES - 1 });
  await window.drain();
  assert.equal(syncs, 0);
  await window.written({ offset: WINDOW_BYTES - 1, length: 1 });
  await window.drain();
  assert.equal(syncs, 1);
  close();
});

test('a writer that fills a second window while the first settles waits for it', { skip: native }, async () => {
  let release!: () => void;
  const { window, close } = windowOver(() => new Promise<void>((r) => (release = r)));
  await window.written({ offset: 0, length: WINDOW_BYTES });
  await window.written({ offset: WINDOW_BYTES, length: WINDOW_BYTES - 1 });
  let done = false;
  const third = window.written({ offset: 2 * WINDOW_BYTES - 1, length: 1 }).then(() => (done = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(done, false, 'held while the first window settles');
  release();
  await third;
  assert.equal(done, true);
  release();
  await window.drain();
  close();
});

test('a failed settle is thrown to the writer and by drain', { skip: native }, async () => {
  const { window, close } = windowOver(() => Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })));
  await window.written({ offset: 0, length: WINDOW_BYTES });
  await assert.rejects(window.drain(), /EIO/);
  await assert.rejects(window.written({ offset: WINDOW_BYTES, length: 1 }), /EIO/);
  close();
});
