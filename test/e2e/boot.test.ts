/**
 * End to end: the VM really boots. A tiny BIOS-bootable disk (Debian kernel,
 * busybox initramfs, syslinux on a FAT partition; scripts/make-boot-disk.sh)
 * is converted by the vdisk CLI to every format and subformat vdisk writes,
 * and each result is booted under qemu-system-x86_64 (TCG) from an IDE and a
 * virtio disk. The guest prints on the serial console the disk it found, the
 * size it sees, the sha256 of a data file read through vfat and the sha256
 * of the disk's last MiB read from the block device; the test checks them
 * against what it wrote. qemu opens every image with snapshot=on.
 *
 * The boot disk is also converted through raw → VDI → VMDK streamOptimized →
 * qcow2 → VHDX → VHD fixed → raw, each step reading the one before, and the
 * last raw is booted.
 *
 * The dynamic VHDX is booted once more served by `vdisk serve` over NBD
 * (a Unix socket), from its nbd+unix:// URI.
 *
 * Not booted: differencing VHD/VHDX, which qemu's vpc and vhdx drivers do
 * not open (vdisk's chains are checked with qemu-img and libvhdi elsewhere),
 * and VMDK deltas (checked with qemu-img in test/oracle/qemu-vmdk-write).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { bootQemu, buildBootDisk, parseReport, type ExpectedReport } from '../helpers/boot-disk.js';
import { vdisk } from '../helpers/cli.js';
import { startServe } from '../helpers/nbd-server.js';
import { needTools, ORACLES_REQUIRED } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

/** One image to boot: how vdisk makes it from the raw disk, and how qemu opens it. */
interface Target {
  name: string;
  /** vdisk convert options after `convert`, before SRC DST. */
  convert: string[];
  /** qemu's format name. */
  qemuFormat: 'raw' | 'vpc' | 'vhdx' | 'vmdk' | 'qcow2' | 'vdi';
  ext: string;
}

const TARGETS: Target[] = [
  { name: 'raw', convert: ['-O', 'raw'], qemuFormat: 'raw', ext: 'raw' },
  { name: 'vhd-fixed', convert: ['-O', 'vhd', '-o', 'subformat=fixed'], qemuFormat: 'vpc', ext: 'vhd' },
  { name: 'vhd-dynamic', convert: ['-O', 'vhd', '-o', 'subformat=dynamic'], qemuFormat: 'vpc', ext: 'vhd' },
  { name: 'vhdx-fixed', convert: ['-O', 'vhdx', '-o', 'subformat=fixed'], qemuFormat: 'vhdx', ext: 'vhdx' },
  { name: 'vhdx-dynamic', convert: ['-O', 'vhdx', '-o', 'subformat=dynamic'], qemuFormat: 'vhdx', ext: 'vhdx' },
  { name: 'vmdk-monolithicSparse', convert: ['-O', 'vmdk'], qemuFormat: 'vmdk', ext: 'vmdk' },
  { name: 'vmdk-streamOptimized', convert: ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], qemuFormat: 'vmdk', ext: 'vmdk' },
  { name: 'qcow2', convert: ['-O', 'qcow2'], qemuFormat: 'qcow2', ext: 'qcow2' },
  { name: 'qcow2-compat-0.10', convert: ['-O', 'qcow2', '-o', 'compat=0.10'], qemuFormat: 'qcow2', ext: 'qcow2' },
  { name: 'qcow2-compressed-zlib', convert: ['-c', '-O', 'qcow2'], qemuFormat: 'qcow2', ext: 'qcow2' },
  { name: 'qcow2-compressed-zstd', convert: ['-c', '-O', 'qcow2', '-o', 'compression_type=zstd'], qemuFormat: 'qcow2', ext: 'qcow2' },
  { name: 'vdi-dynamic', convert: ['-O', 'vdi'], qemuFormat: 'vdi', ext: 'vdi' },
  { name: 'vdi-fixed', convert: ['-O', 'vdi', '-o', 'subformat=fixed'], qemuFormat: 'vdi', ext: 'vdi' },
];

/**
 * The chain of conversions of issue 16's "Boot" criterion: each step converts
 * the previous step's output, so every reader feeds every next writer.
 */
const CONVERSION_CHAIN: { convert: string[]; ext: string }[] = [
  { convert: ['-O', 'vdi'], ext: 'vdi' },
  { convert: ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], ext: 'vmdk' },
  { convert: ['-O', 'qcow2'], ext: 'qcow2' },
  { convert: ['-O', 'vhdx'], ext: 'vhdx' },
  { convert: ['-O', 'vhd', '-o', 'subformat=fixed'], ext: 'vhd' },
  { convert: ['-O', 'raw'], ext: 'raw' },
];

const INTERFACES = ['ide', 'virtio'] as const;

/** Per-boot limit: a boot takes a few seconds under TCG; a hung guest must not hang the suite. */
const BOOT_TIMEOUT_MS = 120_000;

// sfdisk, mkfs.fat and depmod live in /usr/sbin, which a non-root PATH may
// lack; this file runs in its own process (node --test), so widen it here.
process.env.PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

/** Boots `file` and checks the guest's report; records the boot time as a diagnostic. */
async function bootAndCheck(
  t: TestContext,
  file: string,
  format: string,
  iface: 'ide' | 'virtio',
  expected: ExpectedReport,
): Promise<number> {
  const boot = await bootQemu(file, format, iface, BOOT_TIMEOUT_MS);
  const report = parseReport(boot.output);
  const context = `qemu ${boot.timedOut ? `killed after ${BOOT_TIMEOUT_MS} ms` : `exited ${boot.status}`}; output:\n${boot.output}`;
  assert.equal(report.get('FAIL'), undefined, `guest reported a failure; ${context}`);
  assert.deepEqual(
    {
      ok: report.has('BOOT-OK'),
      disk: report.get('DISK'),
      size: Number(report.get('SIZE')),
      data: report.get('DATA'),
      tail: report.get('TAIL'),
      end: report.has('END'),
    },
    { ok: true, disk: iface === 'ide' ? 'sda' : 'vda', size: expected.size, data: expected.data, tail: expected.tail, end: true },
    context,
  );
  assert.equal(boot.timedOut, false, context);
  assert.equal(boot.status, 0, context);
  t.diagnostic(`${iface}: booted in ${boot.ms} ms`);
  return boot.ms;
}

test('converted disks boot under qemu and the guest reads the same bytes', { timeout: 30 * 60_000 }, async (t) => {
  const tools = ['qemu-system-x86_64', 'syslinux', 'mcopy', 'mkfs.fat', 'sfdisk', 'busybox', 'cpio', 'depmod', 'modprobe', 'apt-get', 'dpkg-deb'];
  if (!needTools(t, ...tools)) return;
  const dir = tempDir('vdisk-boot-');
  const started = performance.now();
  const built = buildBootDisk(dir);
  if ('kernelUnavailable' in built) {
    if (ORACLES_REQUIRED) throw new Error(`could not download the Debian kernel: ${built.kernelUnavailable}`);
    t.skip(`could not download the Debian kernel (apt-get download linux-image-amd64): ${built.kernelUnavailable}`);
    return;
  }
  const { raw, expected } = built;
  t.diagnostic(`boot disk built in ${Math.round(performance.now() - started)} ms`);

  // Control: the disk as built, before vdisk touches it. If this fails, the
  // disk builder or qemu is broken, not a vdisk writer.
  await t.test('source raw (control), virtio', async (st) => {
    await bootAndCheck(st, raw, 'raw', 'virtio', expected);
  });

  let boots = 0;
  let bootMs = 0;
  for (const target of TARGETS) {
    await t.test(target.name, async (st) => {
      const file = join(dir, `${target.name}.${target.ext}`);
      const r = vdisk('convert', ...target.convert, raw, file);
      assert.equal(r.status, 0, `vdisk convert ${target.convert.join(' ')}: ${r.stderr}`);
      for (const iface of INTERFACES) {
        await st.test(iface, async (bt) => {
          bootMs += await bootAndCheck(bt, file, target.qemuFormat, iface, expected);
          boots++;
        });
      }
    });
  }
  // Converted six times over, each output the next input: raw → VDI → VMDK
  // streamOptimized → qcow2 → VHDX → VHD fixed → raw.
  await t.test('chain raw → vdi → vmdk streamOptimized → qcow2 → vhdx → vhd fixed → raw, virtio', async (st) => {
    let file = raw;
    for (const [i, step] of CONVERSION_CHAIN.entries()) {
      const next = join(dir, `chain-${i + 1}.${step.ext}`);
      const r = vdisk('convert', ...step.convert, file, next);
      assert.equal(r.status, 0, `vdisk convert ${step.convert.join(' ')} ${file}: ${r.stderr}`);
      file = next;
    }
    const same = vdisk('compare', raw, file);
    assert.equal(same.status, 0, `the chain's raw differs from the source: ${same.stdout}${same.stderr}`);
    bootMs += await bootAndCheck(st, file, 'raw', 'virtio', expected);
    boots++;
  });
  // Served, not converted: the dynamic VHDX above, exported by `vdisk serve`
  // and booted from its NBD URI (qemu's nbd driver, format raw).
  await t.test('vhdx-dynamic served by vdisk serve over NBD, virtio', async (st) => {
    const served = await startServe('-s', join(dir, 'boot.sock'), join(dir, 'vhdx-dynamic.vhdx'));
    bootMs += await bootAndCheck(st, served.ready.exports[0]!.uri, 'raw', 'virtio', expected);
    boots++;
    const stopped = await served.stop();
    assert.equal(stopped.status, 0, stopped.stderr);
  });
  t.diagnostic(`${boots} boots of converted images in ${bootMs} ms; whole test ${Math.round(performance.now() - started)} ms`);
});
