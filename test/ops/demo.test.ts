/**
 * `vdisk demo`: the journey through every hypervisor's format, each line a
 * numbered step indented alike, with its time, sizes and comparison.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demo } from '../../src/ops/demo.js';
import { vdisk } from '../helpers/cli.js';

/** A numbered step: two spaces, the number right-aligned in two columns, what happened. */
const STEP = /^ {2}[ \d]\d\. \S/;
/** A detail under a step: six spaces. */
const DETAIL = /^ {6}\S/;

test('the demo walks VMDK streamOptimized -> VHDX -> VHD -> qcow2 (snapshot, commit) -> VDI, every step compared', async () => {
  const lines: string[] = [];
  await demo((l) => lines.push(l));
  const text = lines.join('\n');
  const steps = lines.filter((l) => STEP.test(l));
  assert.deepEqual(
    lines.filter((l) => !STEP.test(l) && !DETAIL.test(l)),
    ['Done: every step kept the guest contents byte for byte.'],
    `every other line is a step or a detail, indented alike:\n${text}`,
  );
  assert.deepEqual(
    steps.map((l) => Number(l.slice(0, 4).trim().replace('.', ''))),
    steps.map((_, i) => i + 1),
    'steps are numbered 1, 2, 3, ...',
  );
  const story = ['VMDK streamOptimized', 'Hyper-V disk (dynamic VHDX)', 'Xen disk (dynamic VHD)', 'KVM disk (qcow2)', 'snapshot of the KVM disk', 'commit of the snapshot', 'VirtualBox disk (dynamic VDI)'];
  let at = -1;
  for (const s of story) {
    const i = steps.findIndex((l) => l.includes(s));
    assert.ok(i > at, `"${s}" comes after the step before it:\n${text}`);
    at = i;
  }
  for (const l of steps.slice(0, -1)) assert.match(l, /\(\d+ ms\)$/, `each step says how long it took: ${l}`);
  assert.equal(lines.filter((l) => /^ {6}[\d.]+ [KMG]iB file, [\d.]+ [KMG]?i?B on disk$/.test(l) || /^ {6}\d+ bytes? file/.test(l)).length >= 7, true, `every image's sizes:\n${text}`);
  assert.equal(lines.filter((l) => /guest view identical to \S+; check clean$/.test(l)).length, 6, `five conversions and the commit compared and checked:\n${text}`);
  assert.match(steps[steps.length - 1]!, /differ first at byte \d+, inside the 64 KiB the snapshot wrote/);
});

test('vdisk demo prints the tour and exits 0', () => {
  const r = vdisk('demo');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ {2} 1\. generated disk\.raw/m);
  assert.match(r.stdout, /Done: every step kept the guest contents byte for byte\.$/m);
});
