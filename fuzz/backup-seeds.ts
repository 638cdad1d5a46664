/**
 * The backup target's inputs: a whole repository (config, manifest, index,
 * chunk objects; docs/backup.md) as one file set, made by `backup create`,
 * and the mutator's model of its objects: the binary headers of indexes and
 * chunks, the JSON values of the config, manifests and index metadata, and
 * the one checksum gate (an index is named, and checked, by its SHA-256,
 * which its manifest records).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { sha256Hex } from '../src/backup/chunk-object.js';
import { backupCreate } from '../src/backup/create.js';
import { initRepository } from '../src/backup/repository.js';
import { createImage } from '../src/formats/registry.js';
import type { Field, FormatModel } from './fields.js';
import { fill, type Seed } from './seeds.js';

/** Guest size of the backed-up disk: one whole 4 MiB chunk and one short one. */
const SIZE = 6 * 1024 * 1024;

/** Text put in place of a JSON value: wrong types, edges, names that climb out. */
const JSON_VALUES = ['-1', '0', '1e400', '0.5', '9007199254740993', '4294967296', 'null', 'true', '[]', '{}', '""', '"../../etc/passwd"', '"snapshots/../x"', `"${'f'.repeat(64)}"`, '"\\u0000"'];

const INDEX_MAGIC = 'VDBKIDX1';
const CHUNK_MAGIC = 'VDBKCHK1';

/** Every file under `dir`, named by its path relative to `dir` with '/' separators. */
function readTree(dir: string, root = dir, out = new Map<string, Uint8Array>()): Map<string, Uint8Array> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) readTree(path, root, out);
    else if (e.isFile()) out.set(relative(root, path).split('\\').join('/'), new Uint8Array(readFileSync(path)));
  }
  return out;
}

/** Seeds: one repository holding one snapshot, three times, each with a different object as the one mutated most (manifest, index, chunk). */
export async function backupSeeds(): Promise<Seed[]> {
  const dir = mkdtempSync(join(tmpdir(), 'vdisk-fuzz-seed-'));
  try {
    const disk = join(dir, 'disk.img');
    await fill(await createImage(disk, 'raw', { virtualSize: SIZE, options: {} }), 0xb4c);
    const repo = join(dir, 'repo');
    await initRepository(repo);
    await backupCreate(repo, disk);
    const files = readTree(repo);
    const pickFirst = (prefix: string) => [...files.keys()].find((n) => n.startsWith(prefix))!;
    return ['snapshots/', 'indexes/', 'chunks/'].map((prefix) => ({ name: `backup ${prefix.slice(0, -1)}`, top: pickFirst(prefix), files }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const startsWith = (bytes: Uint8Array, magic: string): boolean => Buffer.from(bytes.subarray(0, magic.length)).toString('latin1') === magic;

/** The binary header fields of an index (metadata length) or a chunk object (plaintext length, codec). */
function backupFields(bytes: Uint8Array): Field[] {
  const fields: Field[] = startsWith(bytes, INDEX_MAGIC) ? [{ at: 8, width: 4, le: true }] : startsWith(bytes, CHUNK_MAGIC) ? [{ at: 8, width: 4, le: true }, { at: 12, width: 4, le: true }] : [];
  return fields.filter((f) => f.at + f.width <= bytes.length);
}

/** Replaces one number or string of JSON text by a hostile JSON value. */
function mutateJsonText(text: string, rand: () => number): { text: string; step: string } | undefined {
  const tokens = [...text.matchAll(/"(?:[^"\\]|\\.)*"|-?\b\d+(?:\.\d+)?\b/g)];
  if (tokens.length === 0) return undefined;
  const t = tokens[Math.floor(rand() * tokens.length)]!;
  const value = JSON_VALUES[Math.floor(rand() * JSON_VALUES.length)]!;
  return { text: text.slice(0, t.index) + value + text.slice(t.index! + t[0].length), step: `JSON ${t[0].slice(0, 40)} -> ${value}` };
}

/** A JSON-value mutation of a manifest or config, or of an index's metadata (its length field follows). */
function mutateJson(bytes: Uint8Array, rand: () => number): { bytes: Uint8Array; step: string } | undefined {
  if (startsWith(bytes, CHUNK_MAGIC)) return undefined;
  if (!startsWith(bytes, INDEX_MAGIC)) {
    const m = mutateJsonText(Buffer.from(bytes).toString('utf8'), rand);
    return m && { bytes: new Uint8Array(Buffer.from(m.text, 'utf8')), step: m.step };
  }
  if (bytes.length < 12) return undefined;
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (12 + length > bytes.length) return undefined;
  const m = mutateJsonText(Buffer.from(bytes.subarray(12, 12 + length)).toString('utf8'), rand);
  if (!m) return undefined;
  const json = Buffer.from(m.text, 'utf8');
  const out = new Uint8Array(12 + json.length + bytes.length - 12 - length);
  out.set(bytes.subarray(0, 12));
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(bytes.subarray(12 + length), 12 + json.length);
  return { bytes: out, step: `index metadata: ${m.step}` };
}

/** Renames each index whose bytes no longer match its name to its new SHA-256, and points every manifest at the new name, so a mutant passes the index's gate. */
function fixIndexDigests(files: Map<string, Uint8Array>): void {
  for (const [name, bytes] of [...files]) {
    const old = /^indexes\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(name)?.[1];
    const digest = sha256Hex(bytes);
    if (!old || old === digest) continue;
    files.delete(name);
    files.set(`indexes/${digest.slice(0, 2)}/${digest}`, bytes);
    for (const [m, text] of files) if (m.startsWith('snapshots/')) files.set(m, new Uint8Array(Buffer.from(Buffer.from(text).toString('utf8').split(old).join(digest), 'utf8')));
  }
}

/** The mutator's model of a repository's objects. */
export const backupModel: FormatModel = { fields: backupFields, fixChecksums: () => undefined, mutateText: mutateJson, fixSet: fixIndexDigests };
