/**
 * Real VHD structures from ../shared/fixtures/real (node-vhd/test/data, made
 * by Hyper-V, creator "win " 10.0), as hex of their non-zero prefix. They let
 * the structure tests check against bytes another tool wrote.
 */

/** Footer of node-vhd fixed.vhd: 10 MiB fixed, CHS 301/4/17, checksum 0xffffe5d0. */
export const HYPERV_FIXED_FOOTER_HEX =
  '636f6e65637469780000000200010000ffffffffffffffff20dc650377696e20000a00005769326b0000000000a000000000000000a00000012d041100000002ffffe5d071a5d438d9d5f44b8d26726a7e7ef18e';

/** Footer of node-vhd dynamic.vhd: 512 MiB dynamic, CHS 1040/16/63, checksum 0xffffee8a. */
export const HYPERV_DYNAMIC_FOOTER_HEX =
  '636f6e65637469780000000200010000000000000000020020dc656877696e20000a00005769326b000000002000000000000000200000000410103f00000003ffffee8af72cad7bcc05a04c8db3da4ce981ce29';

/** Dynamic header of node-vhd dynamic.vhd: BAT at 1536, 256 entries, 2 MiB blocks, checksum 0xfffff476. */
export const HYPERV_DYNAMIC_HEADER_HEX = '6378737061727365ffffffffffffffff0000000000000600000100000000010000200000fffff476';

/** The structure as a zero-padded buffer of `size` bytes. */
export function fromHex(hex: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(Buffer.from(hex, 'hex'));
  return out;
}
