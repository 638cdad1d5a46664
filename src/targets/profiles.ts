import type { ImageInfo } from '../formats/types.js';

/** What a rule looks at: the image's description (format-specific fields included). */
export interface TargetContext {
  info: ImageInfo;
}

/** One requirement of a hypervisor, with where it comes from (docs/targets.md). */
export interface TargetRule {
  id: string;
  text: string;
  source: string;
  /** Undefined when the image meets the rule, else why not. */
  violation(ctx: TargetContext): string | undefined;
}

/** One output a profile can be written as: a format and its options. */
export interface TargetOutput {
  format: string;
  options: Record<string, string>;
  /** Said when this output is a stand-in for one vdisk does not write (yet). */
  note?: string;
  /** Options the profile sets unless `-o` names them otherwise (a switch between a hypervisor's products). */
  defaults?: Record<string, string>;
}

/** A hypervisor profile: what `convert --target` writes, and the rules `check --target` applies. */
export interface TargetProfile {
  name: string;
  /**
   * What convert writes, best first: the first whose format vdisk can write
   * is used, so a format that lands takes over from a stand-in without a
   * change here.
   */
  outputs: TargetOutput[];
  /** The virtual size is rounded up to a multiple of this (1 = unchanged). */
  sizeMultiple: number;
  /** The largest virtual size the hypervisor takes: convert refuses a larger source before writing a byte. */
  maxSize?: number;
  /** Where the hypervisor is shown to run differencing disks, so `convert --target -B` may keep a chain; absent: it takes single images only. */
  chains?: string;
  rules: TargetRule[];
}

const MiB = 1024 * 1024;

/** Why a VMDK extent rule fails for an image that has no sparse VMDK extent at all. */
const NO_SPARSE_EXTENT = 'it is not a sparse VMDK (no extent header to read)';
const GiB = 1024 * MiB;

const fs = (ctx: TargetContext) => ctx.info.formatSpecific ?? {};

/** The image is a `subformat` `format`, or (with `child`) a differencing child of one. */
const isFormat = (format: string, subformat: string, source: string, child?: string): TargetRule => ({
  id: `${format}-${subformat}`,
  text: `the image is a ${subformat} ${format.toUpperCase()}${child ? ` (or a ${child} child)` : ''}`,
  source,
  violation: ({ info }) => (info.format === format && (info.subformat === subformat || (child !== undefined && info.subformat === child)) ? undefined : `it is ${info.subformat ?? ''} ${info.format}`.trim()),
});

const sizeMultiple = (multiple: number, label: string, source: string): TargetRule => ({
  id: `size-multiple-${label.replace(/\W+/g, '')}`,
  text: `the virtual size is a whole number of ${label}`,
  source,
  violation: ({ info }) => (info.virtualSize % multiple === 0 ? undefined : `${info.virtualSize} bytes is not a multiple of ${multiple}`),
});

const AZURE_UPLOAD = 'https://learn.microsoft.com/azure/virtual-machines/linux/create-upload-generic';

/** Largest VHD Azure takes as an uploaded disk: 1,023 GiB (AZURE_UPLOAD, "maximum VHD size"). */
const AZURE_MAX_SIZE = 1023 * GiB;

/** Every profile vdisk knows. */
export const PROFILES: TargetProfile[] = [
  {
    name: 'azure',
    outputs: [{ format: 'vhd', options: { subformat: 'fixed' } }],
    sizeMultiple: MiB,
    maxSize: AZURE_MAX_SIZE,
    rules: [
      isFormat('vhd', 'fixed', `${AZURE_UPLOAD} ("The VHDX format isn't supported in Azure, only fixed VHD")`),
      sizeMultiple(MiB, '1 MiB', `${AZURE_UPLOAD} ("the virtual size of the VHD must be aligned to 1 MB")`),
      {
        id: 'max-size',
        text: 'the virtual size is at most 1,023 GiB',
        source: `${AZURE_UPLOAD} (maximum VHD size for an uploaded image)`,
        violation: ({ info }) => (info.virtualSize <= AZURE_MAX_SIZE ? undefined : `${info.virtualSize} bytes is more than 1,023 GiB`),
      },
      {
        id: 'footer-only',
        text: 'the file is the data plus a 512-byte footer (N MiB + 512 bytes)',
        source: 'https://learn.microsoft.com/powershell/module/az.compute/add-azvhd (Add-AzVhd expects N·MiB+512 bytes)',
        violation: ({ info }) => (info.fileSize === info.virtualSize + 512 ? undefined : `file is ${info.fileSize} bytes, expected ${info.virtualSize + 512}`),
      },
      {
        id: 'size-by-current-size',
        text: 'readers size it by its current size (a creator such as "win "), so qemu 7.2 sees the same size',
        source: 'https://github.com/microsoft/azure-linux-image-tools/pull/364 (CHS-sized VHDs rejected); INTEROP-NOTES 1-2',
        violation: (ctx) => {
          const f = fs(ctx);
          if (f.sizeRule !== 'current-size') return `sized by CHS geometry (creator '${String(f.creatorApplication)}')`;
          return f.qemu72VirtualSize === ctx.info.virtualSize ? undefined : `qemu 7.2 would read ${String(f.qemu72VirtualSize)} bytes (creator '${String(f.creatorApplication)}')`;
        },
      },
      {
        id: 'checksums',
        text: 'the footer checksum is valid',
        source: 'VHD spec Appendix A; INTEROP-NOTES 19 (Windows reports damaged images as 0x80070570)',
        violation: (ctx) => (fs(ctx).footerChecksumValid === true ? undefined : 'the footer checksum is wrong (vdisk check --repair)'),
      },
    ],
  },
  {
    name: 'hyperv',
    outputs: [{ format: 'vhdx', options: { subformat: 'dynamic' } }],
    sizeMultiple: MiB,
    chains: 'https://learn.microsoft.com/powershell/module/hyper-v/new-vhd (-Differencing -ParentPath; checkpoints are differencing AVHDX files)',
    rules: [
      isFormat('vhdx', 'dynamic', 'https://learn.microsoft.com/powershell/module/hyper-v/new-vhd (VHDX is the default and recommended format; dynamic is the default type)', 'differencing'),
      sizeMultiple(MiB, '1 MiB', 'https://learn.microsoft.com/powershell/module/hyper-v/resize-vhd (sizes are whole MiB; Hyper-V Manager offers GB)'),
      {
        id: 'logical-sector-512',
        text: 'logical sectors of 512 bytes (4096 also works in Hyper-V, but qemu and older guests refuse it)',
        source: 'INTEROP-NOTES 16; [MS-VHDX] 2.6.2.4',
        violation: (ctx) => {
          const size = fs(ctx).logicalSectorSize;
          if (size === undefined) return `it is not a VHDX (a ${ctx.info.format.toUpperCase()} records no logical sector size)`;
          return size === 512 ? undefined : `logical sector size is ${String(size)}`;
        },
      },
    ],
  },
  {
    name: 'xen',
    outputs: [{ format: 'vhd', options: { subformat: 'dynamic', block_size: '2M' } }],
    sizeMultiple: 2 * MiB,
    chains: 'https://github.com/xapi-project/blktap/blob/master/vhd/lib/vhd-util-snapshot.c (XAPI stores VDIs as VHD chains; vhd-util snapshot makes the children)',
    rules: [
      isFormat('vhd', 'dynamic', 'https://github.com/xapi-project/blktap/blob/master/vhd/lib/vhd-util-create.c (vhd-util creates dynamic VHDs; XAPI stores VDIs as VHD chains)', 'differencing'),
      {
        id: 'block-2m',
        text: 'blocks of 2 MiB',
        source: 'https://github.com/xapi-project/blktap/blob/master/vhd/lib/libvhd.c (VHD_BLOCK_SIZE 2 MiB is the only size blktap uses)',
        violation: ({ info }) => (info.clusterSize === 2 * MiB ? undefined : `block size is ${String(info.clusterSize)}`),
      },
      sizeMultiple(2 * MiB, '2 MiB blocks', 'blktap sizes VDIs in whole blocks (vhd-util-create.c rounds the size up to the block)'),
      {
        id: 'max-size',
        text: 'the virtual size is at most 2,040 GiB',
        source: 'https://learn.microsoft.com/windows/win32/vstor/about-vhd; https://github.com/xcp-ng/xcp/issues/168',
        violation: ({ info }) => (info.virtualSize <= 2040 * GiB ? undefined : 'larger than 2,040 GiB'),
      },
      {
        id: 'original-size',
        text: 'the original size is not larger than the current size',
        source: 'https://github.com/vatesfr/xen-orchestra/blob/master/packages/vhd-lib/checkFooter.js ("assert(footer.originalSize <= footer.currentSize)"); INTEROP-NOTES 24',
        violation: (ctx) => {
          const { originalSize, currentSize } = fs(ctx);
          return typeof originalSize === 'number' && typeof currentSize === 'number' && originalSize > currentSize ? `original size ${originalSize} is larger than current size ${currentSize}` : undefined;
        },
      },
      {
        id: 'header-at-512',
        text: 'the dynamic header follows the footer copy at byte 512',
        source: 'https://github.com/vatesfr/xen-orchestra/blob/master/packages/vhd-lib/checkFooter.js ("assert.strictEqual(footer.dataOffset, FOOTER_SIZE)"); INTEROP-NOTES 24',
        violation: (ctx) => {
          const offset = fs(ctx).dataOffset;
          return offset === undefined || offset === 512 ? undefined : `the dynamic header is at byte ${String(offset)}`;
        },
      },
    ],
  },
  {
    name: 'virtualbox',
    outputs: [{ format: 'vdi', options: { subformat: 'dynamic' } }],
    chains: 'https://www.virtualbox.org/manual/ch05.html#vdis (snapshots are differencing images)',
    sizeMultiple: MiB,
    rules: [
      {
        id: 'virtualbox-native',
        text: 'a VDI, or a dynamic VHD',
        source: 'https://www.virtualbox.org/manual/ch05.html#vdidetails (VDI is its own format; VHD: full read/write support; VHDX: read-only)',
        violation: ({ info }) => (info.format === 'vdi' || (info.format === 'vhd' && info.subformat === 'dynamic') ? undefined : `it is ${info.subformat ?? ''} ${info.format}`.trim()),
      },
    ],
  },
  {
    name: 'vmware',
    outputs: [{ format: 'vmdk', options: {}, defaults: { subformat: 'streamOptimized' } }],
    sizeMultiple: MiB,
    rules: [
      isFormat('vmdk', 'streamOptimized', 'https://github.com/vmware/govmomi/blob/v0.28.0/vmdk/import.go (govc import.vmdk: "invalid format (must be streamOptimized)"); INTEROP-NOTES 8-9'),
      {
        id: 'sparse-version-3',
        text: 'the sparse extent header is version 3',
        source: 'https://github.com/glennmatthews/cot/issues/65 (ESXi: "Not a supported disk format (sparse VMDK version too old)" below version 3)',
        violation: ({ info }) => {
          const versions = ((fs({ info }).extents as { version?: number }[] | undefined) ?? []).map((e) => e.version);
          if (versions.length === 0) return NO_SPARSE_EXTENT;
          return versions.every((v) => v === 3) ? undefined : `extent versions ${versions.join(', ')}`;
        },
      },
      {
        id: 'footer-eos',
        text: 'the grain directory is found through the footer in the sectors before the last (the end-of-stream marker)',
        source: 'https://gitlab.com/qemu-project/qemu/-/issues/1357 (ESXi refuses an OVF disk whose footer is not followed by the EOS marker; VMware Virtual Disk Format 1.1, "The Footer")',
        violation: ({ info }) => {
          const extents = (fs({ info }).extents as { footer?: boolean }[] | undefined) ?? [];
          if (extents.length === 0) return NO_SPARSE_EXTENT;
          return extents.every((e) => e.footer === true) ? undefined : 'no footer';
        },
      },
    ],
  },
  {
    name: 'qemu',
    chains: 'QEMU docs/interop/qcow2.txt (backing_file_offset: any image format as the backing file)',
    outputs: [
      { format: 'qcow2', options: { compat: '1.1', compression_type: 'zlib', extended_l2: 'off' } },
      { format: 'raw', options: {} },
    ],
    sizeMultiple: 512,
    rules: [
      {
        id: 'qemu-readable',
        text: 'a format qemu 7.2 opens read-write at the same size (raw, qcow2, VHD, 512-byte-sector non-differencing VHDX, or dynamic/fixed VDI with 1 MiB blocks)',
        source: 'INTEROP-NOTES 1-2, 16-17; qemu block/vdi.c vdi_open (image types 1 and 2 only, block size 1 MiB) and docs/formats/vdi.md (qemu ignores block_extra)',
        violation: ({ info }) => {
          if (info.format === 'raw' || info.format === 'qcow2') return undefined;
          if (info.format === 'vhd') return info.formatSpecific?.qemu72VirtualSize === info.virtualSize ? undefined : 'qemu 7.2 sizes this VHD differently';
          if (info.format === 'vhdx') return info.subformat !== 'differencing' && info.formatSpecific?.logicalSectorSize === 512 ? undefined : 'qemu refuses differencing and 4K-sector VHDX';
          if (info.format === 'vdi') return info.subformat !== 'diff' && info.clusterSize === MiB && info.formatSpecific?.blockExtra === 0 ? undefined : 'qemu opens only dynamic and fixed VDIs with 1 MiB blocks, and misreads a block extra area as guest data (docs/formats/vdi.md)';
          return `qemu cannot open ${info.format} here`;
        },
      },
    ],
  },
];

/** The profile of a name, or undefined. */
export function profileByName(name: string): TargetProfile | undefined {
  return PROFILES.find((p) => p.name === name);
}
