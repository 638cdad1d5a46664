// Builds the browser page (web/) into dist/web/: index.html copied, main.js
// (the page) and worker.js (opens images off the page's thread) bundled by
// esbuild for the browser. An import of a node:* module anywhere in what the
// page reaches fails the build: esbuild cannot resolve node modules for
// --platform=browser, and none is aliased or shimmed. The one node global the
// library uses, Buffer, is injected into the worker (which runs the library)
// from the `buffer` package (web/buffer-global.ts); the page's own script
// does without it.
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

mkdirSync('dist/web', { recursive: true });
const common = { outdir: 'dist/web', bundle: true, platform: 'browser', format: 'esm', target: 'es2022', minify: true, logLevel: 'warning' };
await build({ ...common, entryPoints: ['web/main.ts'] });
await build({ ...common, entryPoints: ['web/worker.ts'], inject: ['web/buffer-global.ts'] });
copyFileSync('web/index.html', 'dist/web/index.html');
