/**
 * Helpers for the "the VM really boots" test (test/e2e/boot.test.ts): build a
 * tiny bootable raw disk with scripts/make-boot-disk.sh, boot an image under
 * qemu-system-x86_64 (TCG, serial console on stdout, killed on a timeout), and
 * read the report the guest's /init prints on the serial console.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './cli.js';
import { prng } from './prng.js';

const MiB = 1024 * 1024;

/** What the guest must report for the disk built by {@link buildBootDisk}. */
export interface ExpectedReport {
  /** Guest-visible size in bytes. */
  size: number;
  /** sha256 (hex) of data.bin on the FAT partition. */
  data: string;
  /** sha256 (hex) of the disk's last MiB, outside every partition. */
  tail: string;
}

/** Outcome of {@link buildBootDisk}: the raw disk and its expected report, or why the kernel could not be fetched. */
export type BootDiskResult = { raw: string; expected: ExpectedReport } | { kernelUnavailable: string };

/** Exit code of make-boot-disk.sh when `apt-get download` of the kernel fails. */
const KERNEL_UNAVAILABLE = 3;

function sha256(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Deterministic random bytes (mulberry32 seeded with `seed`). */
function randomBytes(length: number, seed: number): Buffer {
  const next = prng(seed);
  const buf = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buf[i] = Math.floor(next() * 256);
  return buf;
}

/**
 * The disk's last MiB: every 512-byte sector starts with its own label
 * ("VDISK-TAIL sector N") and is filled with seeded random bytes, so a
 * misplaced or missing sector changes the hash.
 */
function tailPattern(): Buffer {
  const buf = randomBytes(MiB, 0x7a11);
  for (let s = 0; s < MiB / 512; s++) buf.write(`VDISK-TAIL sector ${s}\n`, s * 512, 'latin1');
  return buf;
}

/**
 * Builds `dir/boot.raw` (`mib` MiB) with scripts/make-boot-disk.sh: a data
 * file of 3 MiB + 4321 seeded random bytes (not a whole number of sectors)
 * on the FAT partition and {@link tailPattern} in the last MiB. Throws with
 * the script's output when it fails for another reason than fetching the kernel.
 */
export function buildBootDisk(dir: string, mib = 64): BootDiskResult {
  const data = randomBytes(3 * MiB + 4321, 0xb007);
  const tail = tailPattern();
  const dataPath = join(dir, 'data.bin');
  const tailPath = join(dir, 'tail.bin');
  const raw = join(dir, 'boot.raw');
  writeFileSync(dataPath, data);
  writeFileSync(tailPath, tail);
  const script = join(REPO_ROOT, 'scripts', 'make-boot-disk.sh');
  const r = spawnSync('sh', [script, raw, String(mib), dataPath, tailPath], { encoding: 'utf8', timeout: 600_000 });
  if (r.status === KERNEL_UNAVAILABLE) return { kernelUnavailable: r.stderr.trim() };
  if (r.status !== 0) throw new Error(`make-boot-disk.sh exited ${r.status ?? r.signal}:\n${r.stdout}${r.stderr}`);
  return { raw, expected: { size: mib * MiB, data: sha256(data), tail: sha256(tail) } };
}

/** One qemu run: everything it printed (serial console and its own messages), how long it took, and how it ended. */
export interface BootResult {
  output: string;
  ms: number;
  status: number | null;
  timedOut: boolean;
}

/**
 * Boots `file` as the only disk (`format`: qemu's name, raw | vpc | vhdx | vmdk;
 * `iface`: ide | virtio) under TCG with the serial console on stdout and
 * snapshot=on, so the image is never written. qemu is killed (SIGKILL) after
 * `timeoutMs`; the guest powers off by itself when its /init is done, and
 * -no-reboot turns a kernel panic (panic=-1) into an exit.
 */
export function bootQemu(file: string, format: string, iface: 'ide' | 'virtio', timeoutMs = 120_000): Promise<BootResult> {
  const drive = `file=${file.replaceAll(',', ',,')},format=${format},if=${iface},snapshot=on`;
  const args = ['-accel', 'tcg', '-nographic', '-monitor', 'none', '-serial', 'stdio', '-m', '256', '-no-reboot', '-nic', 'none', '-drive', drive];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    qemu.stdout.on('data', (c: Buffer) => chunks.push(c));
    qemu.stderr.on('data', (c: Buffer) => chunks.push(c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      qemu.kill('SIGKILL');
    }, timeoutMs);
    qemu.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    qemu.on('close', (status) => {
      clearTimeout(timer);
      resolve({ output: Buffer.concat(chunks).toString('latin1'), ms: Math.round(performance.now() - started), status, timedOut });
    });
  });
}

/** The guest's report: each `VDISK-KEY value` line of the serial console, by key (BOOT-OK, DISK, SIZE, DATA, TAIL, END, FAIL). */
export function parseReport(output: string): Map<string, string> {
  const report = new Map<string, string>();
  // Not anchored at line starts: the kernel's console reset escape sequence
  // ends up just before the first line /init prints.
  for (const m of output.matchAll(/VDISK-(BOOT-OK|[A-Z]+)(?: ([^\r\n]*))?/g)) {
    if (!report.has(m[1]!)) report.set(m[1]!, (m[2] ?? '').trim());
  }
  return report;
}
