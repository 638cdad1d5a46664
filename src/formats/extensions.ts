/**
 * Each format's file name extension (without the dot), by format name: what
 * the descriptors give as `extension` and the page names its downloads by.
 * Node-free, so a browser bundle can read it without the descriptors' node
 * code. Raw disks are `.img`, as qemu-img, Proxmox and cloud images name them.
 */
export const FORMAT_EXTENSIONS = { raw: 'img', vhd: 'vhd', vhdx: 'vhdx', vmdk: 'vmdk', qcow2: 'qcow2', vdi: 'vdi' } as const;
