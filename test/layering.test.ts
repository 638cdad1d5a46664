import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tempDir } from './helpers/tmp.js';

/** The repository root (dist/test -> ../..). */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// Loaded by URL so TypeScript needs no types for the plain .mjs script.
const { checkLayers } = (await import(pathToFileURL(join(ROOT, 'scripts', 'check-layers.mjs')).href)) as {
  checkLayers: (dir: string) => string[];
};

/** Writes files (src-relative path -> source) under a fresh temporary src/ and returns it. */
function fakeTree(files: Record<string, string>): string {
  const src = join(tempDir('vdisk-layers-'), 'src');
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    writeFileSync(join(src, path), source);
  }
  return src;
}

test('src/ keeps its layers: no upward imports, no cycles, no unresolved imports', () => {
  const violations = checkLayers(join(ROOT, 'src'));
  assert.deepEqual(violations, [], `layering violations (node scripts/check-layers.mjs):\n${violations.join('\n')}`);
});

test('the layer check reports a format importing the engine', () => {
  const src = fakeTree({
    'formats/vhd/a.ts': "import { b } from '../../engine/b.js';\nexport const a = b;\n",
    'engine/b.ts': 'export const b = 1;\n',
    'formats/registry.ts': "// import { b } from '../engine/b.js'; (a comment: not an edge)\nexport const formats = [];\n",
  });
  const violations = checkLayers(src);
  assert.equal(violations.length, 1, violations.join('\n'));
  assert.match(violations[0]!, /^formats\/vhd\/a\.ts:1: imports engine\/b\.ts \(rule 1/);
});

test('the layer check reports an import cycle once, and an import that does not resolve', () => {
  const src = fakeTree({
    'util/a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
    'util/b.ts': "export { type A } from './a.js';\nexport interface B { n: number }\n",
    'util/c.ts': "import './missing.js';\n",
  });
  const violations = checkLayers(src);
  assert.equal(violations.length, 2, violations.join('\n'));
  assert.ok(violations.some((v) => v.startsWith('import cycle: util/a.ts -> util/b.ts -> util/a.ts')), violations.join('\n'));
  assert.ok(violations.some((v) => v.startsWith("util/c.ts:1: import './missing.js' does not resolve")), violations.join('\n'));
});

test('the layer check keeps nbd/ below ops/ and away from format folders', () => {
  const src = fakeTree({
    'nbd/server.ts': "import { serve } from '../ops/serve.js';\nimport { v } from '../formats/vhd/index.js';\nexport const s = [serve, v];\n",
    'ops/serve.ts': 'export const serve = 1;\n',
    'formats/vhd/index.ts': 'export const v = 1;\n',
  });
  const violations = checkLayers(src);
  assert.equal(violations.length, 2, violations.join('\n'));
  assert.match(violations[0]!, /^nbd\/server\.ts:1: imports ops\/serve\.ts \(rule 6/);
  assert.match(violations[1]!, /^nbd\/server\.ts:2: imports formats\/vhd\/index\.ts \(rule 2/);
});

test('the layer check keeps backup/ away from format folders and cli/, and engine/ from backup/', () => {
  const src = fakeTree({
    'backup/create.ts': "import { v } from '../formats/vhd/index.js';\nimport { main } from '../cli/main.js';\nexport const c = [v, main];\n",
    'engine/copy.ts': "import { c } from '../backup/create.js';\nexport const e = c;\n",
    'cli/main.ts': 'export const main = 1;\n',
    'formats/vhd/index.ts': 'export const v = 1;\n',
  });
  const violations = checkLayers(src);
  assert.equal(violations.length, 3, violations.join('\n'));
  assert.match(violations[0]!, /^backup\/create\.ts:1: imports formats\/vhd\/index\.ts \(rule 2/);
  assert.match(violations[1]!, /^backup\/create\.ts:2: imports cli\/main\.ts \(rule 6/);
  assert.match(violations[2]!, /^engine\/copy\.ts:1: imports backup\/create\.ts \(rule 6/);
});

test('the layer check keeps web/ above the library: no format folder from web/, no web/ from src/', () => {
  const src = fakeTree({
    'formats/vhd/a.ts': 'export const a = 1;\n',
    'formats/types.ts': 'export const t = 1;\n',
    '../web/page.ts': "import { a } from '../src/formats/vhd/a.js';\nimport { t } from '../src/formats/types.js';\nexport const p = a + t;\n",
    'cli/main.ts': "import { p } from '../../web/page.js';\nexport const m = p;\n",
  });
  const violations = checkLayers(src);
  assert.deepEqual(violations, [
    'cli/main.ts:1: imports ../web/page.ts (rule 7: src/ must not import web/)',
    '../web/page.ts:1: imports formats/vhd/a.ts (rule 7: web/ reaches a format only through files directly in formats/ or through browser/)',
  ]);
});
