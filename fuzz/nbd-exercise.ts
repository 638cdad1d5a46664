import { connect } from 'node:net';
import { join } from 'node:path';
import { createImage, openImage } from '../src/formats/registry.js';
import { NbdExport } from '../src/nbd/export.js';
import { NbdServer } from '../src/nbd/server.js';
import { judge, type Outcome } from './exercise.js';
import { NBD_EXPORTS } from './nbd-transcript.js';
import { fill, SEED_GUEST_SIZE } from './seeds.js';

/** Most reply bytes one transcript may draw: far above any honest answer to a seed, far below memory trouble. */
const REPLY_CAP = 256 * 1024 * 1024;

/**
 * The NBD target's server: vdisk's NbdServer on a Unix socket in the
 * worker's stub directory, exporting a dynamic VHD with data (read-only)
 * and a raw image (writable), both 4 MiB, made once per worker. Each
 * mutant is one client connection that sends the transcript, half-closes,
 * and reads until the server closes.
 */
export class NbdRig {
  /** Protocol violations the server reported (each drops its client). */
  private violations = 0;
  private server?: NbdServer;

  private constructor(private readonly socket: string) {}

  /** Makes the exports and starts the server in `dir`. */
  static async start(dir: string): Promise<NbdRig> {
    const roPath = join(dir, 'nbd-ro.vhd');
    await fill(await createImage(roPath, 'vhd', { virtualSize: SEED_GUEST_SIZE, options: { block_size: '512K' } }), 3);
    const rw = await createImage(join(dir, 'nbd-rw.raw'), 'raw', { virtualSize: SEED_GUEST_SIZE, options: {} });
    const rig = new NbdRig(join(dir, 'nbd.sock'));
    const exports = [new NbdExport(NBD_EXPORTS.readOnly, await openImage(roPath)), new NbdExport(NBD_EXPORTS.writable, rw, rw)];
    rig.server = new NbdServer(exports, { onWarning: () => void rig.violations++ });
    await rig.server.listen({ socket: rig.socket });
    return rig;
  }

  /**
   * Sends `transcript` as one client and waits for the server to close the
   * connection; resolves to the outcome: refused (`PROTOCOL`) when the
   * server dropped the client for breaking the protocol, a crash when it
   * answered more than REPLY_CAP bytes.
   */
  async run(transcript: Uint8Array): Promise<Outcome> {
    const before = this.violations;
    const outcome = await judge(this.converse(transcript));
    return outcome.kind === 'ok' && this.violations > before ? { kind: 'refused', code: 'PROTOCOL' } : outcome;
  }

  private converse(transcript: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      let replied = 0;
      const client = connect(this.socket, () => client.end(transcript));
      client.on('data', (chunk: Buffer) => {
        replied += chunk.length;
        if (replied > REPLY_CAP) {
          client.destroy();
          reject(new Error(`the server sent over ${REPLY_CAP} bytes for a ${transcript.length}-byte transcript`));
        }
      });
      client.on('error', () => undefined);
      client.on('close', () => resolve());
    });
  }

  /** Stops the server. */
  async close(): Promise<void> {
    await this.server?.close();
  }
}
