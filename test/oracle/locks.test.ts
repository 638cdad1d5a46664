import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import { buildChain } from '../helpers/chain.js';
import { vdisk } from '../helpers/cli.js';
import { needTools } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

test('an image qemu has open is never changed: commit and repair refuse, reads still work', async (t) => {
  if (!needTools(t, 'qemu-io')) return;
  const dir = tempDir();
  const [base, top] = await buildChain(dir, 8 * MiB, [[[0, MiB, 1]], [[4096, 8192, 2]]]);
  const qemu = spawn('qemu-io', ['-f', 'vpc', base!], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      qemu.stdout.on('data', (d) => String(d).includes('qemu-io>') && resolve());
      qemu.on('exit', (code) => reject(new Error(`qemu-io exited ${code}`)));
    });
    const c = vdisk('commit', top!);
    assert.equal(c.status, 1, c.stderr);
    assert.match(c.stderr, /in use by another process.*\(IO\)/);
    const r = vdisk('check', '--repair', base!);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stdout, /in use/);
    assert.equal(vdisk('info', base!).status, 0);
  } finally {
    qemu.stdin.end('quit\n');
    await new Promise((resolve) => qemu.on('close', resolve));
  }
  assert.equal(vdisk('commit', top!).status, 0, 'commit works once qemu is gone');
});

test('vdisk never changes an image another vdisk is writing', async () => {
  const dir = tempDir();
  const [base, top] = await buildChain(dir, 8 * MiB, [[[0, MiB, 1]], [[4096, 8192, 2]]]);
  const writer = await openImage(base!, { writable: true });
  try {
    const c = vdisk('commit', top!);
    assert.equal(c.status, 1);
    assert.match(c.stderr, /(in use|being changed) by another process/);
    const info = vdisk('info', top!);
    assert.equal(info.status, 1, 'a reader refuses a chain whose base is being written');
    assert.match(info.stderr, /being changed by another process/);
  } finally {
    await writer.close();
  }
});
