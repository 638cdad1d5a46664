import assert from 'node:assert/strict';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildChain } from '../helpers/chain.js';
import { vdiskIn } from '../helpers/cli.js';
import { needTools, run } from '../helpers/oracles.js';
import { residentBytes } from '../helpers/process-memory.js';
import { tempDir } from '../helpers/tmp.js';
import { WebSession, assertMapShows, assertMatchesCli, chooseOutput, convertTo, pick } from '../helpers/web-page.js';

/**
 * The web page (dist/web, built by `npm run build:web`) in Debian's chromium,
 * driven by playwright-core and served from 127.0.0.1 by this test: files
 * picked through the page's file input show the info, check and target
 * verdicts `vdisk` itself prints for them, the allocation map is drawn where
 * the data is, a broken file shows the CLI's error line, and the page asks for
 * nothing outside its own origin. VDISK_WEB_SCREENSHOT=FILE.jpg saves the page
 * showing the VHD chain (docs/web-page.jpg is made so).
 */

const MiB = 1024 * 1024;

describe('web page in chromium', () => {
  const web = new WebSession();
  before(() => web.serve());
  after(() => web.close());

  it('a dynamic VHD chain, picked child and parent together, shows what vdisk info and check say', async (t) => {
    if (!(await web.open(t))) return;
    const dir = tempDir();
    await buildChain(dir, 8 * MiB, [[[0, MiB, 1]], [[2 * MiB, MiB / 2, 2]], [[5 * MiB, MiB, 3]]]);
    const shown = await pick(web.page, ['layer1.vhd', 'base.vhd', 'layer2.vhd'].map((n) => join(dir, n)));
    assert.equal(shown.layers.length, 3);
    assertMatchesCli(shown, dir, 'layer2.vhd');
    assert.deepEqual(shown.targets.find((t) => t.profile === 'azure')?.verdict, 'fail', 'a differencing VHD is not for Azure');
    await assertMapShows(web.page, 8 * MiB, [
      [0, MiB, 2],
      [2 * MiB, MiB / 2, 1],
      [5 * MiB, MiB, 0],
    ]);
    if (process.env.VDISK_WEB_SCREENSHOT) await web.page.screenshot({ path: process.env.VDISK_WEB_SCREENSHOT, fullPage: true, type: 'jpeg', quality: 45 });
  });

  it('a VHDX shows what vdisk info and check say', async (t) => {
    if (!(await web.open(t))) return;
    const dir = tempDir();
    await buildChain(dir, 64 * MiB + 4096, [[[MiB, 3 * MiB, 4]]], 'vhdx');
    const shown = await pick(web.page, [join(dir, 'base.vhdx')]);
    assertMatchesCli(shown, dir, 'base.vhdx');
  });

  it('the map zooms into the row of a clicked square, down to 512-byte squares, and back out; the wheel does the same', async (t) => {
    if (!(await web.open(t))) return;
    const dir = tempDir();
    const size = 256 * MiB;
    await buildChain(dir, size, [[[12 * MiB + 64 * 1024, 64 * 1024, 1], [100 * MiB, MiB, 2]], [[13 * MiB, 128 * 1024, 3]]], 'qcow2');
    await pick(web.page, [join(dir, 'base.qcow2'), join(dir, 'layer1.qcow2')]);
    const whole: [number, number, number][] = [
      [12 * MiB + 64 * 1024, 64 * 1024, 1],
      [13 * MiB, 128 * 1024, 0],
      [100 * MiB, MiB, 1],
    ];
    await assertMapShows(web.page, size, whole);
    const map = web.page.locator('#map');
    const shown = async () => [Number(await map.getAttribute('data-offset')), Number(await map.getAttribute('data-length')), Number(await map.getAttribute('data-cell-bytes'))];
    /** Clicks the square in column `col`, row `row` and waits for the worker's map. */
    const zoom = async (col: number, row: number) => {
      await web.page.locator('body').evaluate((body) => body.removeAttribute('data-map'));
      await map.click({ position: { x: col * 8 + 4, y: row * 8 + 4 } });
      await web.page.waitForSelector('body[data-map="done"]');
    };
    await zoom(10, 3);
    assert.deepEqual(await shown(), [12 * MiB, 4 * MiB, 1024], 'row 3 of 4 MiB rows: 12 to 16 MiB in 1 KiB squares');
    const zoomed: [number, number, number][] = [
      [12 * MiB + 64 * 1024, 64 * 1024, 1],
      [13 * MiB, 128 * 1024, 0],
    ];
    await assertMapShows(web.page, 4 * MiB, zoomed, 12 * MiB);
    assert.match((await web.page.locator('#map-scale').textContent()) ?? '', /^12 MiB to 16 MiB of the disk: each square is 1 KiB/);
    await zoom(0, 16);
    assert.deepEqual(await shown(), [12 * MiB, 2 * MiB, 512], 'a 64 KiB row widened to 2 MiB of sectors');
    await assertMapShows(web.page, 2 * MiB, zoomed, 12 * MiB);
    await web.page.click('#map-out');
    assert.deepEqual(await shown(), [12 * MiB, 4 * MiB, 1024]);
    await web.page.click('#map-out');
    assert.deepEqual(await shown(), [0, size, 64 * 1024]);
    await assertMapShows(web.page, size, whole);
    assert.equal(await web.page.locator('#map-out').isHidden(), true, 'nothing left to zoom out of');
    await web.page.locator('body').evaluate((body) => body.removeAttribute('data-map'));
    const box = (await map.boundingBox())!;
    await web.page.mouse.move(box.x + 10 * 8 + 4, box.y + 3 * 8 + 4);
    await web.page.mouse.wheel(0, -100);
    await web.page.waitForSelector('body[data-map="done"]');
    assert.deepEqual(await shown(), [12 * MiB, 4 * MiB, 1024], 'the wheel forward over row 3 zooms into it');
    await web.page.mouse.wheel(0, 100);
    await web.page.waitForFunction("document.getElementById('map').dataset.offset === '0'");
    assert.deepEqual(await shown(), [0, size, 64 * 1024], 'the wheel back zooms out');
  });

  it('a broken file shows the CLI error line, a child picked without its parent a PARENT line, another format what the page reads', async (t) => {
    if (!(await web.open(t))) return;
    const dir = tempDir();
    await buildChain(dir, 8 * MiB, [[[0, MiB, 1]], [[MiB, MiB, 2]]]);
    writeFileSync(join(dir, 'broken.vhdx'), Buffer.concat([Buffer.from('vhdxfile'), Buffer.alloc(MiB)]));
    const broken = vdiskIn(dir, 'info', 'broken.vhdx');
    assert.notEqual(broken.status, 0);
    assert.equal((await pick(web.page, [join(dir, 'broken.vhdx')])).error, broken.stderr.trim(), 'the same one-line coded message');
    writeFileSync(join(dir, 'disk.img'), Buffer.alloc(MiB, 7));
    assert.equal((await pick(web.page, [join(dir, 'disk.img')])).error, 'vdisk: disk.img: not a VHD, VHDX, VMDK, qcow2 or VDI image; this page reads only those (the vdisk command reads raw disks too) (UNSUPPORTED)');
    unlinkSync(join(dir, 'base.vhd'));
    const orphan = vdiskIn(dir, 'info', 'layer1.vhd');
    const cliStart = /^vdisk: layer1\.vhd: parent with UUID [0-9a-f-]+ \(name 'base\.vhd'\) not found/.exec(orphan.stderr.trim());
    assert.ok(cliStart && orphan.stderr.trim().endsWith('(PARENT)'), orphan.stderr);
    const shown = (await pick(web.page, [join(dir, 'layer1.vhd')])).error ?? '';
    assert.ok(shown.startsWith(`${cliStart[0]} among the picked files`) && shown.endsWith('pick the parent too (PARENT)'), shown);
  });

  it('converts a VHD chain for Azure into a downloaded fixed VHD that qemu-img finds identical and check --target azure passes', async (t) => {
    if (!(await web.open(t)) || !needTools(t, 'qemu-img')) return;
    const dir = tempDir();
    const size = 8 * MiB + MiB / 2;
    await buildChain(dir, size, [[[0, MiB, 1]], [[3 * MiB, 2 * MiB, 2]], [[8 * MiB, MiB / 2, 3]]]);
    await pick(web.page, ['base.vhd', 'layer1.vhd', 'layer2.vhd'].map((n) => join(dir, n)));
    const out = join(dir, 'out.vhd');
    assert.equal(await convertTo(web.page, 'target:azure', out), 'layer2-azure.vhd');
    assert.equal(await web.page.locator('#convert-progress').isHidden(), true);
    // qemu's vpc driver reads no differencing VHD, so the chain's guest view is given to it as raw (vdisk's chain reading is checked against libvhdi elsewhere).
    assert.equal(vdiskIn(dir, 'convert', '-O', 'raw', 'layer2.vhd', 'guest.raw').status, 0);
    const compare = run('qemu-img', ['compare', '-f', 'raw', '-F', 'vpc', join(dir, 'guest.raw'), out], true);
    assert.equal(compare.status, 0, `qemu-img compare: ${compare.stdout}${compare.stderr}`);
    const info = JSON.parse(vdiskIn(dir, 'info', '--json', 'out.vhd').stdout) as { subformat: string; virtualSize: number; fileSize: number };
    assert.deepEqual([info.subformat, info.virtualSize, info.fileSize], ['fixed', 9 * MiB, 9 * MiB + 512], 'rounded up to a whole MiB, then the footer');
    const check = vdiskIn(dir, 'check', '--target', 'azure', 'out.vhd');
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  it('converts a 2 GiB sparse VHD for Azure with its renderer growing by less than 300 MiB; Cancel stops a conversion, at its start or in the middle of the copy, and removes its output', async (t) => {
    if (!(await web.open(t))) return;
    const dir = tempDir();
    const GiB = 1024 * MiB;
    await buildChain(dir, 2 * GiB, [[[0, 16 * MiB, 1], [GiB, 16 * MiB, 2], [2 * GiB - 16 * MiB, 16 * MiB, 3]]]);
    const context = await web.browser!.newContext({ acceptDownloads: false });
    const big = await context.newPage();
    try {
      await big.goto(`${web.server!.origin}/`);
      await pick(big, [join(dir, 'base.vhd')]);
      const before = residentBytes('--type=renderer');
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, residentBytes('--type=renderer'))), 25);
      try {
        await chooseOutput(big, 'target:azure');
        await big.click('#convert');
        await big.waitForSelector('body[data-convert="done"]', { timeout: 120_000 });
      } finally {
        clearInterval(sampler);
      }
      assert.match((await big.locator('#convert-status').textContent()) ?? '', new RegExp(`^Done: ${2 * GiB + 512} bytes`));
      t.diagnostic(`renderers: ${Math.round(before / MiB)} MiB before, ${Math.round(peak / MiB)} MiB at the peak`);
      assert.ok(peak - before < 300 * MiB, `the renderers grew by ${Math.round((peak - before) / MiB)} MiB`);
      // Both clicks in one task: Cancel lands before the new worker has read anything.
      await big.locator('#convert').evaluate((button) => {
        button.click();
        button.ownerDocument.getElementById('convert-cancel')!.click();
      });
      await big.locator('#convert-status', { hasText: 'Cancelled.' }).waitFor();
      await big.waitForTimeout(500);
      assert.equal(await big.locator('#convert-status').textContent(), 'Cancelled.', 'no result comes after Cancel');
      assert.deepEqual([await big.locator('#convert-cancel').isHidden(), await big.locator('#convert').isEnabled()], [true, true]);
      const entry = "navigator.storage.getDirectory().then((d) => d.getFileHandle('vdisk-output.tmp')).then(() => 'kept', () => 'removed')";
      assert.equal(await big.evaluate(entry), 'removed', 'the output of the cancelled conversion is removed');
      // In the middle of a copy: Cancel is clicked as soon as the progress bar first moves (the first 1 % of the data).
      await chooseOutput(big, 'format:raw');
      const cancelInTheMiddle = `new Promise((resolve) => {
        const bar = document.getElementById('convert-progress');
        new MutationObserver((_, observer) => {
          if (bar.value <= 0) return;
          observer.disconnect();
          const value = bar.value;
          document.getElementById('convert-cancel').click();
          resolve(value);
        }).observe(bar, { attributes: true });
        document.getElementById('convert').click();
      })`;
      const at = (await big.evaluate(cancelInTheMiddle)) as number;
      assert.ok(at > 0 && at < 1, `cancelled at ${at} of the copy`);
      await big.locator('#convert-status', { hasText: 'Cancelled.' }).waitFor();
      await big.waitForTimeout(500);
      assert.equal(await big.locator('#convert-status').textContent(), 'Cancelled.', 'no result comes after a Cancel in the middle');
      assert.equal(await big.evaluate(entry), 'removed', 'the half-written output is removed');
    } finally {
      await context.close();
    }
  });

  it('asks for nothing outside its own origin', async (t) => {
    if (!(await web.open(t))) return;
    assert.ok(web.requests.length > 0, 'the page itself was requested');
    const foreign = web.requests.filter((u) => !u.startsWith(`${web.server!.origin}/`) && !u.startsWith(`blob:${web.server!.origin}/`));
    assert.deepEqual(foreign, []);
    assert.deepEqual(
      web.server!.urls.filter((u) => !['/', '/main.js', '/worker.js'].includes(u)),
      [],
      'the server saw only the page, its script and its worker',
    );
  });
});
