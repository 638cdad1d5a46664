import assert from 'node:assert/strict';
import { basename, join } from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT, vdiskIn } from './cli.js';
import { needTools } from './oracles.js';
import { decodePng } from './png.js';
import { serveStatic, type StaticServer } from './static-server.js';
import { PROFILES } from '../../src/targets/profiles.js';

/**
 * Reading the web page (dist/web) in chromium, for the tests under test/web/:
 * picking files, reading back what the page shows, and comparing it with
 * what `vdisk` prints for the same files.
 */

/** Debian's chromium, which playwright-core drives. */
export const CHROMIUM = '/usr/bin/chromium';

/** What the page shows of one layer: its data-field values (data-value for sizes). */
export interface ShownLayer {
  filename: string;
  [field: string]: string;
}

/** What the page shows after a pick: the layers, the check, each profile's verdict and rules, or the error line. */
export interface Shown {
  error: string | null;
  layers: ShownLayer[];
  checkResult: string;
  findings: string[];
  targets: { profile: string; verdict: string; rules: { id: string; cls: string }[] }[];
}

/** The fields each layer's section shows, by data-field. */
const FIELDS = ['format', 'subformat', 'virtualSize', 'fileSize', 'uuid', 'parent'];

/** Picks `paths` in the page's file input and reads what it shows once the worker has answered. */
export async function pick(page: Page, paths: string[]): Promise<Shown> {
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
export function cliJson(dir: string, ...args: string[]): unknown {
  const r = vdiskIn(dir, ...args, '--json');
  assert.ok(r.status === 0 || args[0] === 'check', `vdisk ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Checks that the page shows what `vdisk info --chain`, `check` and `check --target` say of `top` (in `dir`). */
export function assertMatchesCli(shown: Shown, dir: string, top: string): void {
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
export const MAP_COLOURS = { unallocated: [0xf0, 0xf0, 0xf0], depth: [[0x1f, 0x4f, 0xbf], [0x2e, 0x9e, 0x5b], [0xe0, 0x90, 0x2a]] };

/**
 * Takes a screenshot of the allocation map and checks the centre pixel of
 * every cell (64 a row, 8 px each, the `length` bytes shown from `offset`
 * cut into 4096 cells) against the layout the layers were written with:
 * `data` as [offset, length, depth].
 */
export async function assertMapShows(page: Page, length: number, data: [number, number, number][], offset = 0): Promise<void> {
  const png = decodePng(await page.locator('#map').screenshot());
  const border = (png.width - 64 * 8) / 2;
  const cellBytes = length / 4096;
  const wrong: string[] = [];
  for (let cell = 0; cell < 4096; cell++) {
    const at = offset + cell * cellBytes;
    const depth = data.find(([offset, length]) => at >= offset && at < offset + length)?.[2];
    const want = depth === undefined ? MAP_COLOURS.unallocated : MAP_COLOURS.depth[depth]!;
    const x = border + (cell % 64) * 8 + 4;
    const y = border + Math.floor(cell / 64) * 8 + 4;
    const got = [...png.rgba.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3)];
    if (got.some((v, i) => Math.abs(v - want[i]!) > 2)) wrong.push(`cell ${cell} (byte ${at}): ${got} instead of ${want}`);
  }
  assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} cells drawn wrong`);
}

/** dist/web served from 127.0.0.1, and one chromium page of it, launched on first use, recording every request it makes. */
export class WebSession {
  browser?: Browser;
  server?: StaticServer;
  page!: Page;
  readonly requests: string[] = [];

  /** Starts the server (in a `before` hook). */
  async serve(): Promise<void> {
    this.server = await serveStatic(join(REPO_ROOT, 'dist', 'web'));
  }

  /** Opens the page once (launching chromium); false when the test is skipped for want of chromium. */
  async open(t: TestContext): Promise<boolean> {
    if (!needTools(t, 'chromium')) return false;
    if (this.browser) return true;
    this.browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    this.page = await this.browser.newPage();
    this.page.on('request', (r) => this.requests.push(r.url()));
    const started = Date.now();
    await this.page.goto(`${this.server!.origin}/`, { waitUntil: 'load' });
    t.diagnostic(`page loaded in ${Date.now() - started} ms`);
    return true;
  }

  /** Closes chromium and the server (in an `after` hook). */
  async close(): Promise<void> {
    await this.browser?.close();
    await this.server?.close();
  }
}

/** Selects the output menu's entry whose `data-choice` is `choice` (`target:azure`, `format:vhdx:dynamic`, `format:qcow2`). */
export async function chooseOutput(page: Page, choice: string): Promise<void> {
  const value = await page.locator(`#convert-to option[data-choice="${choice}"]`).getAttribute('value');
  assert.ok(value !== null, `the menu offers ${choice}`);
  await page.selectOption('#convert-to', value);
}

/** Converts to `choice` (chooseOutput), clicks Convert and saves the download as `out`; returns the download's suggested name. */
export async function convertTo(page: Page, choice: string, out: string): Promise<string> {
  await chooseOutput(page, choice);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#convert')]);
  await download.saveAs(out);
  await page.waitForSelector('body[data-convert="done"]');
  return download.suggestedFilename();
}
