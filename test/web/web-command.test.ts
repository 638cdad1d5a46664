import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli.js';

/**
 * `vdisk web` serves dist/web (built by `npm run build`) on 127.0.0.1: it
 * prints the URL, sends the page and its scripts with their types, nothing
 * outside the folder, and exits 0 on SIGTERM.
 */
test('vdisk web serves the built page on 127.0.0.1 and stops on a signal', async () => {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), 'web'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`vdisk web exited ${code} before printing its URL: ${stderr}`);
    });
    exited.catch(() => undefined); // after the URL, the exit is the one the signal below causes
    const [line] = (await Promise.race([once(child.stdout.setEncoding('utf8'), 'data'), exited])) as [string];
    const url = /^vdisk web: (http:\/\/127\.0\.0\.1:\d+\/) /.exec(line)?.[1];
    assert.ok(url, line);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(await page.text(), /makes no network requests/);
    const worker = await fetch(`${url}worker.js`);
    assert.deepEqual([worker.status, worker.headers.get('content-type')], [200, 'text/javascript; charset=utf-8']);
    for (const outside of ['%2e%2e/%2e%2e/package.json', '..%2f..%2fpackage.json', 'missing.js']) {
      assert.equal((await fetch(`${url}${outside}`)).status, 404, outside);
    }
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 0);
});
