// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports,
// commander included) into one ES module, dist/src/cli/vdisk.bundle.js, which
// bin/vdisk.js loads: one file starts about 40 ms faster than the ~100 small
// modules tsc emits (Node 20 resolves, reads and links each one). cli-progress
// stays external so it is still loaded only when a progress bar is shown. The
// bundle sits in the same folder depth as the modules, so paths computed from
// import.meta.url (the native helper in build/Release) stay valid.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/src/cli/main.js'],
  outfile: 'dist/src/cli/vdisk.bundle.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['cli-progress'],
  banner: { js: "import { createRequire as __vdiskCreateRequire } from 'node:module'; const require = __vdiskCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
