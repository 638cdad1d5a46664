import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildChain } from '../helpers/chain.js';
import { vdiskIn } from '../helpers/cli.js';
import { needTools, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';
import { WebSession, convertTo, pick } from '../helpers/web-page.js';
import { PAGE_CHOICES } from '../../src/browser/output-choices.js';
import { PROFILES } from '../../src/targets/profiles.js';

/**
 * Every output the page's menu offers, written in chromium from one VHD
 * chain whose size (8.5 MiB) is a multiple of no block size and whose last
 * layer writes its last half MiB: each download is what qemu-img reads in
 * the chain's guest view (`qemu-img compare`), qemu-img check finds no error
 * where it checks the format, `vdisk info` names the format and subformat,
 * and a target's output passes `vdisk check --target`.
 */

const MiB = 1024 * 1024;

/** qemu's driver name of a vdisk format; a VHD is read by its current size, not its CHS geometry (docs/formats/vhd.md). */
function qemuImage(format: string, path: string): string {
  if (format === 'vhd') return `driver=vpc,force_size_calc=current_size,file.filename=${path}`;
  return `driver=${format},file.filename=${path}`;
}

describe('web page in chromium: every output format and target', () => {
  const web = new WebSession();
  before(() => web.serve());
  after(() => web.close());

  it('writes each menu entry as the CLI would, and qemu-img finds each identical to the chain', async (t) => {
    if (!(await web.open(t)) || !needTools(t, 'qemu-img')) return;
    const dir = tempDir();
    await buildChain(dir, 8 * MiB + MiB / 2, [[[0, MiB, 1]], [[3 * MiB, 2 * MiB, 2]], [[8 * MiB, MiB / 2, 3]]]);
    assert.equal(vdiskIn(dir, 'convert', '-O', 'raw', 'layer2.vhd', 'guest.raw').status, 0);
    await pick(web.page, ['base.vhd', 'layer1.vhd', 'layer2.vhd'].map((n) => join(dir, n)));
    const summary = (await web.page.locator('#targets-summary').textContent()) ?? '';
    assert.match(summary, /Needs a conversion: azure, hyperv,/, 'a differencing VHD needs converting for Azure and Hyper-V');
    await web.page.selectOption('#convert-to', { index: PAGE_CHOICES.length - 1 });
    await web.page.click('button.convert-for[data-target="hyperv"]');
    assert.equal(await web.page.evaluate("document.getElementById('convert-to').selectedOptions[0].dataset.choice"), 'target:hyperv', 'the row button picks its conversion');
    const offered = (await web.page.evaluate("[...document.querySelectorAll('#convert-to option')].map((o) => o.dataset.choice)")) as string[];
    assert.equal(offered.length, PAGE_CHOICES.length);
    assert.deepEqual(offered.filter((c) => c.startsWith('target:')), PROFILES.map((p) => `target:${p.name}`), 'every profile is offered');
    for (const [k, choice] of offered.entries()) {
      const out = join(dir, `out-${k}`);
      const name = await convertTo(web.page, choice, out);
      const [kind, what, subformat] = choice.split(':');
      const info = JSON.parse(vdiskIn(dir, 'info', '--json', out).stdout) as { format: string; subformat?: string; virtualSize: number };
      if (kind === 'format') {
        assert.equal(name, `layer2${subformat ? `-${subformat}` : ''}.${what === 'raw' ? 'img' : what}`);
        assert.equal(info.format, what, choice);
        if (subformat) assert.equal(info.subformat, subformat, choice);
      } else {
        assert.match(name, new RegExp(`^layer2-${what}\\.`));
        const check = vdiskIn(dir, 'check', '--target', what!, out);
        assert.equal(check.status, 0, `${choice}: ${check.stdout}${check.stderr}`);
      }
      assert.ok(info.virtualSize >= 8 * MiB + MiB / 2, `${choice}: ${info.virtualSize} bytes, never rounded down`);
      const compare = run('qemu-img', ['compare', '--image-opts', qemuImage('raw', join(dir, 'guest.raw')), qemuImage(info.format, out)], true);
      assert.equal(compare.status, 0, `${choice}: qemu-img compare: ${compare.stdout}${compare.stderr}`);
      if (['qcow2', 'vdi', 'vhdx', 'vmdk'].includes(info.format)) {
        const check = run('qemu-img', ['check', '-f', info.format, out], true);
        assert.equal(check.status, 0, `${choice}: qemu-img check: ${check.stdout}${check.stderr}`);
      }
    }
  });
});
