import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlatformCode } from '../../../src/formats/vhd/constants.js';
import { decodeLocatorPath, encodeFileUrl, encodeUtf16lePath, locatorSpaceBytes, locatorsInUse, parentCandidates, platformName, type DecodedLocator } from '../../../src/formats/vhd/parent-locator.js';
import { throwsWithCode } from '../../helpers/assert-error.js';
import { VHD_MAX_LOCATOR_BYTES } from '../../../src/limits.js';

function loc(code: string, length = 0): DecodedLocator {
  return { code, offset: 4096, length, space: 512 };
}

function decoded(code: string, data: Uint8Array): DecodedLocator {
  const l = loc(code, data.length);
  decodeLocatorPath(l, data);
  return l;
}

describe('decodeLocatorPath', () => {
  it('reads W2ru and W2ku as UTF-16LE, dropping trailing NULs', () => {
    assert.equal(decoded('W2ru', encodeUtf16lePath('.\\base.vhd')).path, '.\\base.vhd');
    assert.equal(decoded('W2ku', encodeUtf16lePath('C:\\VMs\\bäse 😀.vhd\0\0')).path, 'C:\\VMs\\bäse 😀.vhd');
    assert.deepEqual([...encodeUtf16lePath('A')], [0x41, 0]);
  });

  it('reads a MacX file URL, decoding percent escapes', () => {
    assert.equal(decoded('MacX', encodeFileUrl('./base.vhd')).path, './base.vhd');
    assert.equal(decoded('MacX', encodeFileUrl('/vms/my disk%.vhd')).path, '/vms/my disk%.vhd');
    assert.equal(decoded('MacX', Buffer.from('file:///a%20b.vhd\0\0')).path, '/a b.vhd');
    assert.equal(decoded('MacX', Buffer.from('file:///bad%zz.vhd')).path, '/bad%zz.vhd');
  });

  it('reads the deprecated Wi2r/Wi2k as latin1', () => {
    assert.equal(decoded('Wi2r', Buffer.from('..\\b\xe4se.vhd', 'latin1')).path, '..\\bäse.vhd');
  });

  it('refuses odd-length UTF-16 with CORRUPT', () => {
    const err = throwsWithCode(() => decoded('W2ru', new Uint8Array([0x41, 0, 0x42])), 'CORRUPT');
    assert.match(err.message, /odd byte length \(3\)/);
  });

  it('refuses unpaired surrogates with CORRUPT', () => {
    throwsWithCode(() => decoded('W2ku', new Uint8Array([0x41, 0, 0x00, 0xd8, 0x42, 0])), 'CORRUPT');
    throwsWithCode(() => decoded('W2ru', new Uint8Array([0x00, 0xdc, 0x41, 0])), 'CORRUPT');
  });

  it('refuses empty paths, embedded NULs, non-file URLs and unknown codes', () => {
    throwsWithCode(() => decoded('W2ru', new Uint8Array(8)), 'CORRUPT');
    throwsWithCode(() => decoded('W2ru', encodeUtf16lePath('a\0b')), 'CORRUPT');
    throwsWithCode(() => decoded('MacX', Buffer.from('http://x/base.vhd')), 'CORRUPT');
    throwsWithCode(() => decoded('MacX', Buffer.from([0xff, 0xfe, 0x41])), 'CORRUPT');
    throwsWithCode(() => decoded('Mac', Buffer.from('alias')), 'UNSUPPORTED');
  });
});

describe('locatorSpaceBytes', () => {
  it('takes multiples of 512 as bytes (Windows) and other values as sectors (spec)', () => {
    assert.equal(locatorSpaceBytes(512), 512);
    assert.equal(locatorSpaceBytes(1024), 1024);
    assert.equal(locatorSpaceBytes(1), 512);
    assert.equal(locatorSpaceBytes(2), 1024);
    assert.equal(locatorSpaceBytes(24), 12288);
    assert.equal(locatorSpaceBytes(0), 0);
  });
});

describe('locatorsInUse', () => {
  const entry = (code: number, offset: bigint, length: number) => ({ platformCode: code, platformDataSpace: 1, platformDataLength: length, platformDataOffset: offset });

  it('skips unused entries and names the platform codes', () => {
    const out = locatorsInUse([entry(0, 0n, 0), entry(PlatformCode.w2ru, 4096n, 20), entry(PlatformCode.macx, 4608n, 30)], 10000);
    assert.deepEqual(out.map((l) => [l.code, l.offset, l.length, l.space, l.error]), [
      ['W2ru', 4096, 20, 512, undefined],
      ['MacX', 4608, 30, 512, undefined],
    ]);
  });

  it('records an error for payloads past the end or too long, without throwing', () => {
    const [a, b] = locatorsInUse([entry(PlatformCode.w2ru, 9990n, 20), entry(PlatformCode.w2ku, 0n, VHD_MAX_LOCATOR_BYTES + 1)], 10000);
    assert.match(a!.error!, /past the end/);
    assert.match(b!.error!, /exceeds/);
  });

  it('records an error for an offset past 2^53 (past the end of the file) and keeps the other locators usable', () => {
    const out = locatorsInUse([entry(PlatformCode.w2ru, 1n << 62n, 4), entry(PlatformCode.w2ku, 4096n, 20), entry(PlatformCode.macx, 4608n, 30)], 10000);
    assert.equal(out.length, 3);
    const [far, w2ku, macx] = out;
    assert.deepEqual([far!.code, far!.offset, far!.length, far!.space], ['W2ru', 10000, 4, 512]);
    assert.ok(far!.error, 'the locator past 2^53 carries an error');
    assert.match(far!.error!, /past the end of the file/);
    assert.match(far!.error!, new RegExp(`${1n << 62n}`));
    assert.deepEqual([w2ku, macx].map((l) => [l!.code, l!.offset, l!.length, l!.space, l!.error]), [
      ['W2ku', 4096, 20, 512, undefined],
      ['MacX', 4608, 30, 512, undefined],
    ]);
    decodeLocatorPath(w2ku!, encodeUtf16lePath('C:\\base.vhd'));
    decodeLocatorPath(macx!, encodeFileUrl('./base.vhd'));
    assert.deepEqual(parentCandidates(out, ''), [
      { source: 'MacX locator', path: './base.vhd' },
      { source: 'W2ku locator', path: 'C:\\base.vhd' },
    ]);
  });
});

describe('platformName and parentCandidates', () => {
  it('prints platform codes as text', () => {
    assert.equal(platformName(PlatformCode.w2ru), 'W2ru');
    assert.equal(platformName(PlatformCode.mac), 'Mac');
    assert.equal(platformName(0x41420000), 'AB');
  });

  it('orders W2ru, MacX, Wi2r, W2ku, Wi2k, then the header name; skips locators without a path', () => {
    const ls: DecodedLocator[] = [
      { ...loc('W2ku'), path: 'C:\\abs.vhd' },
      { ...loc('MacX'), path: './mac.vhd' },
      { ...loc('W2ru'), error: 'bad' },
      { ...loc('W2ru'), path: '.\\rel.vhd' },
    ];
    assert.deepEqual(parentCandidates(ls, 'name.vhd'), [
      { source: 'W2ru locator', path: '.\\rel.vhd' },
      { source: 'MacX locator', path: './mac.vhd' },
      { source: 'W2ku locator', path: 'C:\\abs.vhd' },
      { source: 'header parent name', path: 'name.vhd', nameOnly: true },
    ]);
    assert.deepEqual(parentCandidates([], ''), []);
  });
});
