/**
 * Checks the layering of src/: walks every src/**\/*.ts file, reads its
 * relative imports with a regex (static `import ... from`, `import type`,
 * `export ... from`, bare `import '...'` and dynamic `import('...')`; type-only
 * imports count, since they still tie one module's shape to another), and
 * reports each import that breaks a layer rule. The layers keep the formats
 * free of the machinery that drives them, keep the generic code (engine/,
 * ops/, cli/) reaching formats only through their registry and shared types,
 * and keep the floor (util/, io/, errors.ts) from calling up, so each layer
 * can be read, tested and changed without the ones above it.
 *
 * Rules (paths relative to src/):
 *  1. formats/** must not import engine/, nbd/, ops/, backup/ or cli/.
 *  2. ops/, engine/, nbd/, backup/ and cli/ must not import a file inside a format
 *     folder (formats/<sub>/...); files directly in formats/ (registry.ts,
 *     types.ts, ...) are the allowed way in.
 *  3. util/, io/ and errors.ts must not import formats/, chain/, engine/,
 *     nbd/, ops/, backup/ or cli/.
 *  6. engine/ and nbd/ (the machinery ops/ drives: the copy engine, the NBD
 *     server) must not import ops/, backup/ or cli/. backup/ (the backup
 *     repository, which drives ops/ to restore) must not import cli/.
 *  7. web/ (the browser page, beside src/; it sits above the library as cli/
 *     does) reaches a format only through files directly in formats/ (or the
 *     browser entry, browser/, which assembles the formats the page reads),
 *     and nothing in src/ imports web/. It is walked when it exists beside
 *     srcDir; its files are named ../web/... in the report.
 *  4. No import cycles: every strongly connected component of more than one
 *     file (or a file importing itself) is reported once, with one cycle
 *     through it.
 *  5. A relative import that does not resolve to an existing file is a
 *     violation (a typo must not hide an edge).
 *
 * Usage: `node scripts/check-layers.mjs [srcDir]` prints one violation per line
 * and exits 1, or prints "layering ok: N files" and exits 0. The test
 * test/layering.test.ts runs checkLayers() on src/ as part of the suite.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** All .ts files under dir, as absolute paths, sorted. */
function tsFiles(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return tsFiles(p);
      return name.endsWith('.ts') ? [p] : [];
    });
}

/** A path relative to srcDir, with '/' separators. */
function rel(srcDir, abs) {
  return relative(srcDir, abs).split(sep).join('/');
}

/**
 * The source with every comment replaced by spaces (newlines kept, so offsets
 * and line numbers stay valid), so a commented-out or documented import is
 * not read as an edge. Strings, template literals and regex literals are
 * skipped over so that '//' or '/*' inside them is left alone.
 */
function stripComments(src) {
  const out = src.split('');
  const blank = (from, to) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  const braces = []; // for each open '{': true when it opened a template's ${
  let i = 0;
  let prev = ''; // last significant character of code, for regex detection
  const skipString = (q) => {
    i++;
    while (i < src.length && src[i] !== q && src[i] !== '\n') i += src[i] === '\\' ? 2 : 1;
    i++;
  };
  const skipTemplate = () => {
    // i is just after a '`' or a '}' closing a ${...}
    while (i < src.length) {
      if (src[i] === '\\') i += 2;
      else if (src[i] === '`') return void i++;
      else if (src[i] === '$' && src[i + 1] === '{') {
        braces.push(true);
        i += 2;
        return;
      } else i++;
    }
  };
  while (i < src.length) {
    const c = src[i];
    const d = src[i + 1];
    if (c === '/' && d === '/') {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? src.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && d === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === "'" || c === '"') {
      skipString(c);
      prev = c;
    } else if (c === '`') {
      i++;
      skipTemplate();
      prev = '`';
    } else if (c === '{') {
      braces.push(false);
      i++;
      prev = c;
    } else if (c === '}') {
      i++;
      if (braces.pop()) skipTemplate();
      prev = '}';
    } else if (c === '/' && (prev === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev) || /\b(?:return|typeof|case|do|else|in|of|yield|await)\s*$/.test(src.slice(Math.max(0, i - 12), i)))) {
      // a regex literal: skip to its closing '/', not counting one inside [...]
      i++;
      let inClass = false;
      while (i < src.length && src[i] !== '\n') {
        if (src[i] === '\\') i++;
        else if (src[i] === '[') inClass = true;
        else if (src[i] === ']') inClass = false;
        else if (src[i] === '/' && !inClass) break;
        i++;
      }
      i++;
      prev = '/';
    } else {
      if (!/\s/.test(c)) prev = /[\w$]/.test(c) ? 'a' : c;
      i++;
    }
  }
  return out.join('');
}

const IMPORT_PATTERNS = [
  // import x from '...', import { a, b } from '...', import type ..., import * as ns from '...',
  // export { a } from '...', export * from '...', export type { T } from '...'
  /(?:^|[;}\n])\s*(?:import|export)\b[^;'"`()=]*?\bfrom\s*(['"])([^'"\n]+)\1/g,
  // import '...'
  /(?:^|[;}\n])\s*import\s*(['"])([^'"\n]+)\1/g,
  // import('...'), also typeof import('...') in a type
  /\bimport\s*\(\s*(['"])([^'"\n]+)\1\s*[,)]/g,
];

/** The module specifiers a source imports, each with the line its statement starts on, in source order. */
export function importsOf(source) {
  const code = stripComments(source);
  const found = [];
  for (const re of IMPORT_PATTERNS) {
    for (const m of code.matchAll(re)) {
      const at = m.index + m[0].search(/\b(?:import|export)\b/); // where the statement starts
      found.push({ specifier: m[2], line: code.slice(0, at).split('\n').length, at });
    }
  }
  return found.sort((a, b) => a.at - b.at).map(({ specifier, line }) => ({ specifier, line }));
}

/** The absolute .ts file a relative specifier names, or undefined if there is none. */
function resolveSpecifier(fromFile, specifier) {
  const base = resolve(dirname(fromFile), specifier);
  const candidates = [];
  if (/\.js$/.test(specifier)) candidates.push(base.replace(/\.js$/, '.ts'));
  else if (/\.mjs$/.test(specifier)) candidates.push(base.replace(/\.mjs$/, '.mts'));
  else if (/\.cjs$/.test(specifier)) candidates.push(base.replace(/\.cjs$/, '.cts'));
  candidates.push(base);
  return candidates.find((p) => existsSync(p) && statSync(p).isFile());
}

const under = (path, ...dirs) => dirs.some((d) => path.startsWith(d + '/'));
/** True for a file inside a format's own folder: formats/<sub>/... */
const inFormatFolder = (path) => path.startsWith('formats/') && path.split('/').length >= 3;

/** The layer rule an import from `from` to `to` (both src-relative) breaks, or undefined. */
function brokenRule(from, to) {
  if (under(from, 'formats') && under(to, 'engine', 'nbd', 'ops', 'backup', 'cli')) {
    return 'rule 1: formats/ must not import engine/, nbd/, ops/, backup/ or cli/';
  }
  if (under(from, 'ops', 'engine', 'nbd', 'backup', 'cli') && inFormatFolder(to)) {
    return 'rule 2: ops/, engine/, nbd/, backup/ and cli/ reach a format only through files directly in formats/';
  }
  if ((under(from, 'util', 'io') || from === 'errors.ts') && under(to, 'formats', 'chain', 'engine', 'nbd', 'ops', 'backup', 'cli')) {
    return 'rule 3: util/, io/ and errors.ts must not import formats/, chain/, engine/, nbd/, ops/, backup/ or cli/';
  }
  if (under(from, 'engine', 'nbd') && under(to, 'ops', 'backup', 'cli')) {
    return 'rule 6: engine/ and nbd/ must not import ops/, backup/ or cli/';
  }
  if (under(from, 'backup') && under(to, 'cli')) {
    return 'rule 6: backup/ must not import cli/';
  }
  if (under(from, '../web') && inFormatFolder(to)) {
    return 'rule 7: web/ reaches a format only through files directly in formats/ or through browser/';
  }
  if (!from.startsWith('../') && under(to, '../web')) {
    return 'rule 7: src/ must not import web/';
  }
  return undefined;
}

/** Strongly connected components of a graph (Map node -> sorted successors), by Tarjan, iteratively. */
function stronglyConnected(graph) {
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  let next = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work = [{ node: root, edge: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length) {
      const frame = work.at(-1);
      const succ = graph.get(frame.node);
      if (frame.edge < succ.length) {
        const w = succ[frame.edge++];
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, edge: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.node, Math.min(low.get(frame.node), index.get(w)));
        }
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work.at(-1).node;
        low.set(parent, Math.min(low.get(parent), low.get(frame.node)));
      }
      if (low.get(frame.node) === index.get(frame.node)) {
        const component = [];
        let w;
        do {
          w = stack.pop();
          onStack.delete(w);
          component.push(w);
        } while (w !== frame.node);
        components.push(component.sort());
      }
    }
  }
  return components;
}

/** A shortest cycle from start back to start that stays inside the component. */
function cycleThrough(graph, component, start) {
  const inside = new Set(component);
  const parent = new Map([[start, undefined]]);
  const queue = [start];
  for (let q = 0; q < queue.length; q++) {
    const v = queue[q];
    for (const w of graph.get(v)) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const back = [];
        for (let u = v; u !== start; u = parent.get(u)) back.push(u);
        return [start, ...back.reverse(), start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/**
 * Walks srcDir and returns the files checked and the violations found, each a
 * one-line string naming the file (relative to srcDir), line and rule.
 */
export function analyzeLayers(srcDir) {
  const root = resolve(srcDir);
  const web = join(root, '..', 'web');
  const files = [...tsFiles(root), ...(existsSync(web) ? tsFiles(web) : [])];
  const violations = [];
  const graph = new Map();
  for (const file of files) {
    const from = rel(root, file);
    const edges = new Set();
    const reported = new Set();
    for (const { specifier, line } of importsOf(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('./') && !specifier.startsWith('../') && specifier !== '.' && specifier !== '..') continue;
      const target = resolveSpecifier(file, specifier);
      if (!target) {
        violations.push(`${from}:${line}: import '${specifier}' does not resolve to a file (rule 5: every relative import must resolve)`);
        continue;
      }
      const to = rel(root, target);
      if (to.startsWith('../') && !under(to, '../web')) continue; // outside srcDir and web/: no layer
      if (to.endsWith('.ts')) edges.add(to);
      const rule = brokenRule(from, to);
      if (rule && !reported.has(to)) {
        reported.add(to);
        violations.push(`${from}:${line}: imports ${to} (${rule})`);
      }
    }
    graph.set(from, [...edges].sort());
  }
  for (const [from, succ] of graph) graph.set(from, succ.filter((to) => graph.has(to)));
  const cycles = stronglyConnected(graph)
    .filter((c) => c.length > 1 || graph.get(c[0]).includes(c[0]))
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  for (const component of cycles) {
    const path = cycleThrough(graph, component, component[0]);
    const rest = component.length > path.length - 1 ? `; the cycle's component has ${component.length} files: ${component.join(', ')}` : '';
    violations.push(`import cycle: ${path.join(' -> ')} (rule 4: no import cycles${rest})`);
  }
  return { files: files.length, violations };
}

/** The layering violations of the TypeScript tree under srcDir (empty when it is clean). */
export function checkLayers(srcDir) {
  return analyzeLayers(srcDir).violations;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const srcDir = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
  const { files, violations } = analyzeLayers(srcDir);
  for (const v of violations) console.log(v);
  if (violations.length) process.exit(1);
  console.log(`layering ok: ${files} files`);
}
