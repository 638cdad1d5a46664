import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatUuid, randomUuid, uuidEqual, uuidIsNil } from '../../src/util/uuid.js';

describe('uuid', () => {
  it('makes random version 4, variant 1 UUIDs that differ', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const u = randomUuid();
      assert.equal(u.length, 16);
      assert.equal(u[6]! >> 4, 4, 'version nibble');
      assert.equal(u[8]! >> 6, 2, 'variant bits');
      seen.add(formatUuid(u));
    }
    assert.equal(seen.size, 50);
  });

  it('formats the bytes in stored order', () => {
    const u = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    assert.equal(formatUuid(u), '00112233-4455-6677-8899-aabbccddeeff');
    assert.match(formatUuid(randomUuid()), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('compares by value and recognises the nil UUID', () => {
    const a = randomUuid();
    const b = a.slice();
    assert.equal(uuidEqual(a, b), true);
    b[15] = b[15]! ^ 1;
    assert.equal(uuidEqual(a, b), false);
    assert.equal(uuidIsNil(new Uint8Array(16)), true);
    const c = new Uint8Array(16);
    c[15] = 1;
    assert.equal(uuidIsNil(c), false);
  });
});
