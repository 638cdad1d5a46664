import { backupModel } from './backup-seeds.js';
import { MODELS, readField, writeField, type FormatModel } from './fields.js';
import { nbdModel } from './nbd-transcript.js';
import type { FuzzTarget, Seed } from './seeds.js';
import type { SharedPool } from './shared-pool.js';

/** Values worth putting in a field: edges of each width, sector and block multiples, block states. */
const INTERESTING = [0n, 1n, 2n, 7n, 0x1ffn, 0x200n, 0x1000n, 0x10000n, 0x100000n, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn, 2n ** 53n, 2n ** 63n - 1n, 2n ** 64n - 1n];

/** Text put in place of a VMDK descriptor value: sizes, hostile names, garbage. */
const DESCRIPTOR_VALUES = ['0', '-1', '4294967296', '18446744073709551615', '9007199254740993', '"../../etc/passwd"', '"/etc/passwd"', '"C:\\\\x.vmdk"', '"\\\\\\\\server\\\\share\\\\x"', '"http://127.0.0.1/x"', '""', '"disk.vmdk"', 'ffffffff', '"a'];

/** One mutant: the mutated file set and how it was made. */
export interface Mutant {
  files: Map<string, Uint8Array>;
  top: string;
  steps: string[];
  /** The mutant's own files, from the pool: give them back when the mutant is neither kept nor a finding. */
  made: Uint8Array[];
}

/** A random integer in [0, n). */
const pick = (rand: () => number, n: number): number => Math.floor(rand() * n);

/** Replaces a random number or quoted value in descriptor text (a VMDK descriptor file, or the one embedded in a sparse extent) by a hostile one, or drops/duplicates a line. */
function mutateDescriptor(bytes: Uint8Array, rand: () => number): { bytes: Uint8Array; step: string } | undefined {
  const text = Buffer.from(bytes).toString('latin1');
  const start = text.indexOf('# Disk DescriptorFile');
  if (start < 0) return undefined;
  const endNul = text.indexOf('\0', start);
  const end = endNul < 0 ? text.length : endNul;
  const lines = text.slice(start, end).split('\n');
  const i = pick(rand, lines.length);
  const kind = pick(rand, 3);
  let step: string;
  if (kind === 0) {
    const tokens = [...lines[i]!.matchAll(/"[^"]*"|\b\d+\b|\b[A-Za-z]+\b/g)];
    if (tokens.length === 0) return undefined;
    const t = tokens[pick(rand, tokens.length)]!;
    const value = DESCRIPTOR_VALUES[pick(rand, DESCRIPTOR_VALUES.length)]!;
    lines[i] = lines[i]!.slice(0, t.index) + value + lines[i]!.slice(t.index! + t[0].length);
    step = `descriptor line ${i}: ${t[0]} -> ${value}`;
  } else if (kind === 1) {
    lines.splice(i, 1);
    step = `descriptor line ${i} dropped`;
  } else {
    lines.splice(i, 0, lines[i]!);
    step = `descriptor line ${i} doubled`;
  }
  const body = Buffer.from(lines.join('\n'), 'latin1');
  if (endNul < 0) return { bytes: new Uint8Array(Buffer.concat([Buffer.from(bytes.subarray(0, start)), body])), step };
  const out = new Uint8Array(bytes);
  out.fill(0, start, end);
  out.set(body.subarray(0, Math.max(0, end - start)), start);
  return { bytes: out, step };
}

/** A structure-aware mutation: a decoded field set to an interesting, shifted or random value. */
function mutateField(bytes: Uint8Array, model: FormatModel, rand: () => number): string | undefined {
  const fields = model.fields(bytes);
  if (fields.length === 0) return undefined;
  const f = fields[pick(rand, fields.length)]!;
  const old = BigInt(readField(bytes, f));
  const choices = [INTERESTING[pick(rand, INTERESTING.length)]!, old + 1n, old - 1n, old * 2n, old << BigInt(8 * (1 + pick(rand, 3))), BigInt(bytes.length), BigInt(bytes.length >> 9), BigInt(Math.floor(rand() * 2 ** 32)), old ^ (1n << BigInt(pick(rand, f.width * 8)))];
  const value = choices[pick(rand, choices.length)]!;
  writeField(bytes, f, value);
  return `field @${f.at} (${f.width} bytes) ${old} -> ${BigInt.asUintN(f.width * 8, value)}`;
}

/** Fills `out` from `at` on with bytes of a xorshift32 stream seeded from `rand`: one call of `rand` instead of one a byte. */
function fillRandom(out: Uint8Array, at: number, rand: () => number): void {
  let x = Math.floor(rand() * 2 ** 32) | 1;
  for (let k = at; k < out.length; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[k] = x & 0xff;
  }
}

/**
 * One byte-level mutation: bit flip, a run set to 0x00/0xFF/random, a
 * truncation (a shorter view of the same bytes) or an extension (into a
 * new buffer from `pool`, which is added to `owned`).
 */
function mutateBytes(bytes: Uint8Array, rand: () => number, pool: SharedPool, owned: Uint8Array[]): { bytes: Uint8Array; step: string } {
  const kind = pick(rand, 6);
  const n = bytes.length;
  if (n === 0 || kind === 5) {
    const extra = 1 + pick(rand, 128 * 1024);
    const out = pool.alloc(n + extra);
    owned.push(out);
    out.set(bytes);
    if (rand() < 0.5) fillRandom(out, n, rand);
    else out.fill(0, n);
    return { bytes: out, step: `extended by ${extra}` };
  }
  // Aim at the metadata-dense start, the end (footers) or anywhere, equally.
  const region = pick(rand, 3);
  const at = region === 0 ? pick(rand, Math.min(n, 4096)) : region === 1 ? Math.max(0, n - 1 - pick(rand, Math.min(n, 1024))) : pick(rand, n);
  if (kind === 0) {
    const bit = pick(rand, 8);
    bytes[at]! ^= 1 << bit;
    return { bytes, step: `bit ${bit} of byte ${at} flipped` };
  }
  if (kind === 4) {
    const size = rand() < 0.5 ? pick(rand, n) : n - 1 - pick(rand, Math.min(n, 4096));
    return { bytes: bytes.subarray(0, Math.max(0, size)), step: `truncated to ${Math.max(0, size)}` };
  }
  const len = Math.min(n - at, 1 + pick(rand, 64));
  const fill = kind === 1 ? 0 : kind === 2 ? 0xff : -1;
  for (let k = at; k < at + len; k++) bytes[k] = fill >= 0 ? fill : pick(rand, 256);
  return { bytes, step: `${len} bytes at ${at} set to ${fill >= 0 ? `0x${fill.toString(16)}` : 'random'}` };
}

/** What the mutator knows of a target's inputs: the image format's model, the NBD transcript's, or the backup repository's; VMDK adds its descriptor text. */
function modelOf(target: FuzzTarget): FormatModel {
  if (target === 'nbd') return nbdModel;
  if (target === 'backup') return backupModel;
  return target === 'vmdk' ? { ...MODELS.vmdk, mutateText: mutateDescriptor } : MODELS[target];
}

/**
 * Makes a mutant of `seed` for `target`: one file of the set (the top one
 * three times in four) gets one to three mutations, field-aware ones with the
 * checksums recomputed afterwards (most of the time) so they pass the gates.
 * Every file of the mutant is in shared memory; the new ones come from `pool`.
 */
export function mutate(target: FuzzTarget, seed: Seed, rand: () => number, pool: SharedPool): Mutant {
  const model = modelOf(target);
  const names = [...seed.files.keys()];
  // The top may be gone: the backup model's fixSet renames an index after its digest.
  const name = (rand() < 0.75 || names.length === 1) && seed.files.has(seed.top) ? seed.top : names[pick(rand, names.length)]!;
  const first = pool.copy(seed.files.get(name)!);
  /** The pooled buffers this mutant took: those its files use are its own, the others go back. */
  const owned = [first];
  let bytes = first;
  const steps: string[] = [];
  let structured = false;
  for (let round = 1 + pick(rand, 3); round > 0; round--) {
    const kind = pick(rand, 10);
    if (kind < 5) {
      const step = mutateField(bytes, model, rand);
      if (step) {
        steps.push(step);
        structured = true;
        continue;
      }
    }
    if (kind === 5 && model.mutateText) {
      const d = model.mutateText(bytes, rand);
      if (d) {
        bytes = d.bytes;
        steps.push(d.step);
        continue;
      }
    }
    const b = mutateBytes(bytes, rand, pool, owned);
    bytes = b.bytes;
    steps.push(b.step);
  }
  const files = new Map(seed.files);
  files.set(name, bytes);
  if (structured ? rand() < 0.9 : rand() < 0.5) {
    model.fixChecksums(bytes);
    model.fixSet?.(files);
    steps.push('checksums fixed');
  }
  const made = pool.share(files);
  const used = new Set([...files.values()].map((f) => f.buffer));
  for (const b of owned) if (used.has(b.buffer)) made.push(b);
  else pool.release(b);
  return { files, top: seed.top, steps: steps.map((s) => `${name}: ${s}`), made };
}
