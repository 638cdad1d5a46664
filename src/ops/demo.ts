import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { openImage } from '../formats/registry.js';
import type { WritableDiskImage } from '../formats/types.js';
import { demoPatch, writeDemoDisk } from './demo-disk.js';
import { formatSize } from '../util/sizes.js';
import { check } from './check.js';
import { commit } from './commit.js';
import { compare } from './compare.js';
import { convert } from './convert.js';
import { snapshot } from './snapshot.js';

const MiB = 1024 * 1024;

/** Size of the generated disk: large enough to show sparse files, small enough to tour in seconds. */
const DEMO_SIZE = 256 * MiB;

/** Block of the generated disk: three of every ten hold text, the rest are holes. */
const DEMO_BLOCK = 2 * MiB;

/** The file's size and the bytes it takes on disk. */
async function sizes(path: string): Promise<string> {
  const st = await stat(path);
  return `${formatSize(st.size)} file, ${formatSize(st.blocks * 512)} on disk`;
}

/** Runs `fn` and returns how long it took, in whole milliseconds. */
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Math.round(Number(process.hrtime.bigint() - t0) / 1e6);
}

/** A demo's steps, numbered and indented alike: what happened, how long it took, the sizes. */
class Tour {
  private n = 0;
  constructor(
    private readonly say: (line: string) => void,
    private readonly dir: string,
  ) {}

  /** Says one numbered step, with its details indented under it. */
  line(what: string, ms: number | undefined, ...details: string[]): void {
    this.say(`  ${String(++this.n).padStart(2)}. ${what}${ms === undefined ? '' : ` (${ms} ms)`}`);
    for (const d of details) this.say(`      ${d}`);
  }

  /** Converts `from` to `to` as told, then compares the two guest views (an Error when they differ) and checks `to`. */
  async convert(what: string, from: string, to: string, outputFormat: string, options: Record<string, string> = {}): Promise<void> {
    const ms = await timed(() => convert(from, to, { outputFormat, options }));
    this.line(`${what}: ${basename(to)}`, ms, await sizes(to), await this.verdict(from, to));
  }

  /** "identical to A; check clean", or an Error naming the first difference. */
  async verdict(a: string, b: string): Promise<string> {
    const r = await compare(a, b);
    if (!r.identical) throw new Error(`demo: ${basename(b)} differs from ${basename(a)} at byte ${r.mismatchOffset}`);
    const c = await check(b);
    return `guest view identical to ${basename(a)}; check ${c.result}`;
  }

  path(name: string): string {
    return join(this.dir, name);
  }
}

/**
 * `vdisk demo`: a disk's journey between hypervisors. A generated 256 MiB
 * sparse disk becomes a VMware disk (VMDK streamOptimized), then a Hyper-V
 * disk (VHDX), a Xen disk (dynamic VHD), a KVM disk (qcow2), which gets a
 * snapshot, a write and a commit, and a VirtualBox disk (VDI). Every step
 * says how long it took and the sizes, and is compared with the step before.
 * Works in a temporary directory it removes.
 */
export async function demo(say: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vdisk-demo-'));
  try {
    const tour = new Tour(say, dir);
    const raw = tour.path('disk.raw');
    let blocks = 0;
    const ms = await timed(async () => (blocks = await writeDemoDisk(raw, DEMO_SIZE, DEMO_BLOCK)));
    tour.line(`generated ${basename(raw)}: ${formatSize(DEMO_SIZE)} raw disk, ${blocks} of ${DEMO_SIZE / DEMO_BLOCK} blocks of 2 MiB hold text`, ms, await sizes(raw));

    const vmware = tour.path('vmware.vmdk');
    await tour.convert('VMware disk (VMDK streamOptimized, deflate-compressed grains)', raw, vmware, 'vmdk', { subformat: 'streamOptimized' });
    const hyperv = tour.path('hyperv.vhdx');
    await tour.convert('VMware -> Hyper-V disk (dynamic VHDX)', vmware, hyperv, 'vhdx');
    const xen = tour.path('xen.vhd');
    await tour.convert('Hyper-V -> Xen disk (dynamic VHD)', hyperv, xen, 'vhd', { subformat: 'dynamic' });
    const kvm = tour.path('kvm.qcow2');
    await tour.convert('Xen -> KVM disk (qcow2)', xen, kvm, 'qcow2');

    const child = tour.path('kvm-snapshot.qcow2');
    const snapMs = await timed(async () => {
      await snapshot(kvm, child);
      const image = (await openImage(child, { writable: true })) as WritableDiskImage;
      try {
        await image.writeAt(demoPatch(64 * 1024), 5 * MiB + 4096);
        await image.flush();
      } finally {
        await image.close();
      }
    });
    if (!(await compare(raw, kvm)).identical) throw new Error('demo: writing into the snapshot changed its base');
    tour.line(`snapshot of the KVM disk: ${basename(child)}, 64 KiB written into it`, snapMs, await sizes(child), `the base ${basename(kvm)} is unchanged: identical to disk.raw`);
    const commitMs = await timed(() => commit(child));
    tour.line(`commit of the snapshot into ${basename(kvm)}`, commitMs, await sizes(kvm), await tour.verdict(child, kvm));

    const vbox = tour.path('virtualbox.vdi');
    await tour.convert('KVM -> VirtualBox disk (dynamic VDI)', kvm, vbox, 'vdi');
    const r = await compare(raw, vbox);
    if (r.identical) throw new Error('demo: the VirtualBox disk lacks the write committed from the snapshot');
    tour.line(`the VirtualBox disk against the generated one: they differ first at byte ${r.mismatchOffset}, inside the 64 KiB the snapshot wrote`, undefined);
    say('Done: every step kept the guest contents byte for byte.');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
