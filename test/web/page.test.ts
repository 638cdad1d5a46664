import assert from 'node:assert/strict';
import { unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildChain } from '../helpers/chain.js';
import { REPO_ROOT, vdiskIn } from '../helpers/cli.js';
import { needTools, run } from '../helpers/oracles.js';
import { decodePng } from '../helpers/png.js';
import { residentBytes } from '../helpers/process-memory.js';
import { serveStatic, type StaticServer } from '../helpers/static-server.js';
import { tempDir } from '../helpers/tmp.js';
import { PROFILES } from '../../src/targets/profiles.js';

/**
 * The web page (dist/web, built by `npm run build:web`) in Debian's chromium,
 * driven by playwright-core and served from 127.0.0.1 by this test: files
 * picked through the page's file input show the info, check and target
 * verdicts `vdisk` itself prints for them, the allocation map is drawn where
 * the data is, a broken file shows the CLI's error line, and the page asks for
 * nothing outside its own origin. VDISK_WEB_SCREENSHOT=FILE.jpg saves the page
 * showing the VHD chain (docs/web-page.jpg is made so).
 */

const CHROMIUM = '/usr/bin/chromium';
const MiB = 1024 * 1024;

/** What the page shows of one layer: its data-field values (data-value for sizes). */
interface ShownLayer {
  filename: string;
  [field: string]: string;
}

/** What the page shows after a pick: the layers, the check, each profile's verdict and rules, or the error line. */
interface Shown {
  error: string | null;
  layers: ShownLayer[];
  checkResult: string;
  findings: string[];
  targets: { profile: string; verdict: string; rules: { id: string; cls: string }[] }[];
}

/** The fields each layer's section shows, by data-field. */
const FIELDS = ['format', 'subformat', 'virtualSize', 'fileSize', 'uuid', 'parent'];

/** Picks `paths` in the page's file input and reads what it shows once the worker has answered. */
async function pick(page: Page, paths: string[]): Promise<Shown> {
  await page.locator('body').evaluate((body) => body.removeAttribute('data-state'));
  await page.setInputFiles('#files', paths);
  await page.waitForSelector('body[data-state="done"]', { timeout: 30_000 });
  const error = page.locator('#error');
  const layers: ShownLayer[] = [];
  for (const section of await page.locator('#chain section.layer').all()) {
    const layer: ShownLayer = { filename: (await section.locator('h3').textContent())!.replace(/^parent \d+: /, '') };
    for (const f of FIELDS) {
      const dd = section.locator(`dd[data-field="${f}"]`);
      layer[f] = (await dd.getAttribute('data-value')) ?? (await dd.textContent())!;
    }
    layers.push(layer);
  }
  const targets: Shown['targets'] = [];
  for (const row of await page.locator('#targets tbody tr').all()) {
    const rules = [];
    for (const li of await row.locator('li').all()) rules.push({ id: (await li.getAttribute('data-rule'))!, cls: (await li.getAttribute('class'))! });
    targets.push({ profile: (await row.getAttribute('data-profile'))!, verdict: (await row.locator('[data-verdict]').getAttribute('data-verdict'))!, rules });
  }
  const findings = [];
  for (const li of await page.locator('#findings li').all()) findings.push((await li.getAttribute('data-code'))!);
  return {
    error: (await error.isHidden()) ? null : await error.textContent(),
    layers,
    checkResult: (await page.locator('#check-result').textContent())!,
    findings,
    targets,
  };
}

/** `vdisk ARGS --json` run in `dir`, parsed. */
function cliJson(dir: string, ...args: string[]): unknown {
  const r = vdiskIn(dir, ...args, '--json');
  assert.ok(r.status === 0 || args[0] === 'check', `vdisk ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Checks that the page shows what `vdisk info --chain`, `check` and `check --target` say of `top` (in `dir`). */
function assertMatchesCli(shown: Shown, dir: string, top: string): void {
  assert.equal(shown.error, null);
  const infos = cliJson(dir, 'info', '--chain', top) as { filename: string; format: string; subformat?: string; virtualSize: number; fileSize: number; uuid?: string }[];
  assert.equal(shown.layers.length, infos.length, 'one section per layer of the chain');
  infos.forEach((info, i) => {
    const layer = shown.layers[i]!;
    assert.equal(layer.filename, basename(info.filename), 'the CLI names parents by their path, the page by the picked name');
    assert.equal(layer.format, info.format);
    assert.equal(layer.subformat, info.subformat ?? '');
    assert.equal(Number(layer.virtualSize), info.virtualSize);
    assert.equal(Number(layer.fileSize), info.fileSize);
    assert.equal(layer.uuid, info.uuid ?? '');
    assert.equal(layer.parent, infos[i + 1] ? basename(infos[i + 1]!.filename) : '(none)');
  });
  const check = cliJson(dir, 'check', top) as { result: string; findings: { code: string }[] };
  assert.equal(shown.checkResult, check.result);
  assert.deepEqual(shown.findings, check.findings.map((f) => f.code));
  assert.deepEqual(shown.targets.map((t) => t.profile), PROFILES.map((p) => p.name), 'a row per profile');
  for (const t of shown.targets) {
    const cli = (cliJson(dir, 'check', '--target', t.profile, top) as { target: { ok: boolean; rules: { id: string; ok: boolean }[] } }).target;
    assert.equal(t.verdict, cli.ok ? 'ok' : 'fail', `${t.profile} verdict`);
    assert.deepEqual(t.rules, cli.rules.map((r) => ({ id: r.id, cls: r.ok ? 'ok' : 'fail' })), `${t.profile} rules`);
  }
}

/** The documented colours of the allocation map (docs/web.md): unallocated, and data by layer depth 0, 1, 2. */
const MAP_COLOURS = { unallocated: [0xf0, 0xf0, 0xf0], depth: [[0x1f, 0x4f, 0xbf], [0x2e, 0x9e, 0x5b], [0xe0, 0x90, 0x2a]] };

/**
 * Takes a screenshot of the allocation map and checks the centre pixel of
 * every cell (64 a row, 8 px each, the disk cut into 4096 cells) against the
 * layout the layers were written with: `data` as [offset, length, depth].
 */
async function assertMapShows(page: Page, size: number, data: [number, number, number][]): Promise<void> {
  const png = decodePng(await page.locator('#map').screenshot());
  const border = (png.width - 64 * 8) / 2;
  const cellBytes = size / 4096;
  const wrong: string[] = [];
  for (let cell = 0; cell < 4096; cell++) {
    const at = cell * cellBytes;
    const depth = data.find(([offset, length]) => at >= offset && at < offset + length)?.[2];
    const want = depth === undefined ? MAP_COLOURS.unallocated : MAP_COLOURS.depth[depth]!;
    const x = border + (cell % 64) * 8 + 4;
    const y = border + Math.floor(cell / 64) * 8 + 4;
    const got = [...png.rgba.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3)];
    if (got.some((v, i) => Math.abs(v - want[i]!) > 2)) wrong.push(`cell ${cell} (byte ${at}): ${got} instead of ${want}`);
  }
  assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} cells drawn wrong`);
}

describe('web page in chromium', () => {
  let browser: Browser | undefined;
  let server: StaticServer | undefined;
  let page: Page;
  const requests: string[] = [];

  before(async () => {
    server = await serveStatic(join(REPO_ROOT, 'dist', 'web'));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Opens the page once (launching chromium), recording every request it makes; false when the test is skipped. */
  async function open(t: Parameters<typeof needTools>[0]): Promise<boolean> {
    if (!needTools(t, 'chromium')) return false;
    if (browser) return true;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage();
    page.on('request', (r) => requests.push(r.url()));
    const started = Date.now();
    await page.goto(`${server!.origin}/`, { waitUntil: 'load' });
    t.diagnostic(`page loaded in ${Date.now() - started} ms`);
    return true;
  }

  it('a dynamic VHD chain, picked child and parent together, shows what vdisk info and check say', async (t) => {
    if (!(await open(t))) return;
    const dir = tempDir();
    await buildChain(dir, 8 * MiB, [[[0, MiB, 1]], [[2 * MiB, MiB / 2, 2]], [[5 * MiB, MiB, 3]]]);
    const shown = await pick(page, ['layer1.vhd', 'base.vhd', 'layer2.vhd'].map((n) => join(dir, n)));
    assert.equal(shown.layers.length, 3);
    assertMatchesCli(shown, dir, 'layer2.vhd');
    assert.deepEqual(shown.targets.find((t) => t.profile === 'azure')?.verdict, 'fail', 'a differencing VHD is not for Azure');
    await assertMapShows(page, 8 * MiB, [
      [0, MiB, 2],
      [2 * MiB, MiB / 2, 1],
      [5 * MiB, MiB, 0],
    ]);
    if (process.env.VDISK_WEB_SCREENSHOT) await page.screenshot({ path: process.env.VDISK_WEB_SCREENSHOT, fullPage: true, type: 'jpeg', quality: 45 });
  });

  it('a VHDX shows what vdisk info and check say', async (t) => {
    if (!(await open(t))) return;
    const dir = tempDir();
    await buildChain(dir, 64 * MiB + 4096, [[[MiB, 3 * MiB, 4]]], 'vhdx');
    const shown = await pick(page, [join(dir, 'base.vhdx')]);
    assertMatchesCli(shown, dir, 'base.vhdx');
  });

  it('a broken file shows the CLI error line, a child picked without its parent a PARENT line, another format what the page reads', async (t) => {
    if (!(await open(t))) return;
    const dir = tempDir();
    await buildChain(dir, 8 * MiB, [[[0, MiB, 1]], [[MiB, MiB, 2]]]);
    writeFileSync(join(dir, 'broken.vhdx'), Buffer.concat([Buffer.from('vhdxfile'), Buffer.alloc(MiB)]));
    const broken = vdiskIn(dir, 'info', 'broken.vhdx');
    assert.notEqual(broken.status, 0);
    assert.equal((await pick(page, [join(dir, 'broken.vhdx')])).error, broken.stderr.trim(), 'the same one-line coded message');
    writeFileSync(join(dir, 'disk.img'), Buffer.alloc(MiB, 7));
    assert.equal((await pick(page, [join(dir, 'disk.img')])).error, 'vdisk: disk.img: not a VHD or VHDX; this page reads only those so far (the vdisk command reads raw, VMDK, qcow2 and VDI too) (UNSUPPORTED)');
    unlinkSync(join(dir, 'base.vhd'));
    const orphan = vdiskIn(dir, 'info', 'layer1.vhd');
    const cliStart = /^vdisk: layer1\.vhd: parent with UUID [0-9a-f-]+ \(name 'base\.vhd'\) not found/.exec(orphan.stderr.trim());
    assert.ok(cliStart && orphan.stderr.trim().endsWith('(PARENT)'), orphan.stderr);
    const shown = (await pick(page, [join(dir, 'layer1.vhd')])).error ?? '';
    assert.ok(shown.startsWith(`${cliStart[0]} among the picked files`) && shown.endsWith('pick the parent too (PARENT)'), shown);
  });

  it('converts a VHD chain for Azure into a downloaded fixed VHD that qemu-img finds identical and check --target azure passes', async (t) => {
    if (!(await open(t)) || !needTools(t, 'qemu-img')) return;
    const dir = tempDir();
    const size = 8 * MiB + MiB / 2;
    await buildChain(dir, size, [[[0, MiB, 1]], [[3 * MiB, 2 * MiB, 2]], [[8 * MiB, MiB / 2, 3]]]);
    await pick(page, ['base.vhd', 'layer1.vhd', 'layer2.vhd'].map((n) => join(dir, n)));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#convert-azure')]);
    assert.equal(download.suggestedFilename(), 'layer2-azure.vhd');
    const out = join(dir, 'out.vhd');
    await download.saveAs(out);
    await page.waitForSelector('body[data-convert="done"]');
    assert.equal(await page.locator('#convert-progress').isHidden(), true);
    // qemu's vpc driver reads no differencing VHD, so the chain's guest view is given to it as raw (vdisk's chain reading is checked against libvhdi elsewhere).
    assert.equal(vdiskIn(dir, 'convert', '-O', 'raw', 'layer2.vhd', 'guest.raw').status, 0);
    const compare = run('qemu-img', ['compare', '-f', 'raw', '-F', 'vpc', join(dir, 'guest.raw'), out], true);
    assert.equal(compare.status, 0, `qemu-img compare: ${compare.stdout}${compare.stderr}`);
    const info = JSON.parse(vdiskIn(dir, 'info', '--json', 'out.vhd').stdout) as { subformat: string; virtualSize: number; fileSize: number };
    assert.deepEqual([info.subformat, info.virtualSize, info.fileSize], ['fixed', 9 * MiB, 9 * MiB + 512], 'rounded up to a whole MiB, then the footer');
    const check = vdiskIn(dir, 'check', '--target', 'azure', 'out.vhd');
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  it('converts a 2 GiB sparse VHD for Azure with its renderer growing by less than 300 MiB; Cancel stops a conversion and removes its output', async (t) => {
    if (!(await open(t))) return;
    const dir = tempDir();
    const GiB = 1024 * MiB;
    await buildChain(dir, 2 * GiB, [[[0, 16 * MiB, 1], [GiB, 16 * MiB, 2], [2 * GiB - 16 * MiB, 16 * MiB, 3]]]);
    const context = await browser!.newContext({ acceptDownloads: false });
    const big = await context.newPage();
    try {
      await big.goto(`${server!.origin}/`);
      await pick(big, [join(dir, 'base.vhd')]);
      const before = residentBytes('--type=renderer');
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, residentBytes('--type=renderer'))), 25);
      try {
        await big.click('#convert-azure');
        await big.waitForSelector('body[data-convert="done"]', { timeout: 120_000 });
      } finally {
        clearInterval(sampler);
      }
      assert.match((await big.locator('#convert-status').textContent()) ?? '', new RegExp(`^Done: ${2 * GiB + 512} bytes`));
      t.diagnostic(`renderers: ${Math.round(before / MiB)} MiB before, ${Math.round(peak / MiB)} MiB at the peak`);
      assert.ok(peak - before < 300 * MiB, `the renderers grew by ${Math.round((peak - before) / MiB)} MiB`);
      // Both clicks in one task: Cancel lands before the new worker has read anything.
      await big.locator('#convert-azure').evaluate((button) => {
        button.click();
        button.ownerDocument.getElementById('convert-cancel')!.click();
      });
      await big.locator('#convert-status', { hasText: 'Cancelled.' }).waitFor();
      await big.waitForTimeout(500);
      assert.equal(await big.locator('#convert-status').textContent(), 'Cancelled.', 'no result comes after Cancel');
      assert.deepEqual([await big.locator('#convert-cancel').isHidden(), await big.locator('#convert-azure').isEnabled()], [true, true]);
      const entry = "navigator.storage.getDirectory().then((d) => d.getFileHandle('vdisk-output.tmp')).then(() => 'kept', () => 'removed')";
      assert.equal(await big.evaluate(entry), 'removed', 'the output of the cancelled conversion is removed');
    } finally {
      await context.close();
    }
  });

  it('asks for nothing outside its own origin', async (t) => {
    if (!(await open(t))) return;
    assert.ok(requests.length > 0, 'the page itself was requested');
    const foreign = requests.filter((u) => !u.startsWith(`${server!.origin}/`) && !u.startsWith(`blob:${server!.origin}/`));
    assert.deepEqual(foreign, []);
    assert.deepEqual(
      server!.urls.filter((u) => !['/', '/main.js', '/worker.js'].includes(u)),
      [],
      'the server saw only the page, its script and its worker',
    );
  });
});
