import { connect, type Socket } from 'node:net';
import { ByteReader } from '../../src/nbd/byte-reader.js';

/** The option and reply magics of proto.md, written out again here so the tests do not trust the server's constants. */
const IHAVEOPT = 0x49484156454f5054n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_MAGIC = 0x67446698;
const STRUCTURED_MAGIC = 0x668e33ef;

/** One option reply. */
export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

/** One reply message of the transmission phase: a simple reply, or one structured chunk. */
export type Reply = { kind: 'simple'; error: number; cookie: bigint } | { kind: 'chunk'; flags: number; type: number; cookie: bigint; payload: Buffer };

/**
 * A hand-driven NBD client for tests: it sends exactly the bytes a test asks
 * for (well-formed or not) and decodes what comes back, so a test can play
 * a well-behaved client or a hostile one.
 */
export class RawNbdClient {
  readonly reader: ByteReader;
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.reader = new ByteReader(socket);
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Connects to a Unix socket path. */
  static connect(path: string): Promise<RawNbdClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path, () => resolve(new RawNbdClient(s)));
      s.once('error', reject);
    });
  }

  send(data: Uint8Array): void {
    this.socket.write(data);
  }

  /** Reads the server's greeting; returns its handshake flags. */
  async greeting(): Promise<number> {
    const g = await this.mustRead(18);
    if (g.toString('latin1', 0, 16) !== 'NBDMAGICIHAVEOPT') throw new Error(`bad greeting ${g.toString('hex')}`);
    return g.readUInt16BE(16);
  }

  /** Greets and sends client flags (fixed newstyle and no-zeroes by default). */
  async start(clientFlags = 3): Promise<void> {
    await this.greeting();
    this.send(u32(clientFlags));
  }

  /** Sends an option. */
  option(option: number, data: Uint8Array = Buffer.alloc(0)): void {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(IHAVEOPT, 0);
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(data.length, 12);
    this.send(Buffer.concat([h, data]));
  }

  /** Reads one option reply. */
  async optionReply(): Promise<OptionReply> {
    const h = await this.mustRead(20);
    if (h.readBigUInt64BE(0) !== 0x3e889045565a9n) throw new Error(`bad option reply magic ${h.toString('hex')}`);
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: await this.mustRead(h.readUInt32BE(16)) };
  }

  /** Reads option replies up to and including the first that is not NBD_REP_INFO/SERVER/META_CONTEXT (types 2, 3, 4). */
  async optionReplies(): Promise<OptionReply[]> {
    const out: OptionReply[] = [];
    for (;;) {
      const r = await this.optionReply();
      out.push(r);
      if (r.type < 2 || r.type > 4) return out;
    }
  }

  /**
   * Negotiates into transmission with NBD_OPT_GO: structured replies and
   * base:allocation unless told otherwise. Returns the size and transmission flags.
   */
  async go(name = '', opts: { structured?: boolean; allocation?: boolean } = {}): Promise<{ size: number; flags: number }> {
    await this.start();
    if (opts.structured ?? true) {
      this.option(8);
      await this.optionReplies();
      if (opts.allocation ?? true) {
        this.option(10, Buffer.concat([str32(name), u32(1), str32('base:allocation')]));
        await this.optionReplies();
      }
    }
    this.option(7, Buffer.concat([str32(name), u16(0)]));
    const replies = await this.optionReplies();
    const info = replies.find((r) => r.type === 3 && r.data.readUInt16BE(0) === 0);
    if (!info || replies.at(-1)!.type !== 1) throw new Error(`NBD_OPT_GO failed: ${JSON.stringify(replies.map((r) => r.type))}`);
    return { size: Number(info.data.readBigUInt64BE(2)), flags: info.data.readUInt16BE(10) };
  }

  /** Sends a request (and a WRITE's payload). */
  request(type: number, offset: number, length: number, opts: { flags?: number; cookie?: bigint; payload?: Uint8Array; magic?: number } = {}): void {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(opts.magic ?? REQUEST_MAGIC, 0);
    h.writeUInt16BE(opts.flags ?? 0, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(opts.cookie ?? 1n, 8);
    h.writeBigUInt64BE(BigInt(offset), 16);
    h.writeUInt32BE(length, 24);
    this.send(opts.payload ? Buffer.concat([h, opts.payload]) : h);
  }

  /** Reads one reply message (a simple reply's READ data is read with mustRead by the caller). */
  async reply(): Promise<Reply> {
    const magic = (await this.mustRead(4)).readUInt32BE(0);
    if (magic === SIMPLE_MAGIC) {
      const r = await this.mustRead(12);
      return { kind: 'simple', error: r.readUInt32BE(0), cookie: r.readBigUInt64BE(4) };
    }
    if (magic !== STRUCTURED_MAGIC) throw new Error(`bad reply magic 0x${magic.toString(16)}`);
    const r = await this.mustRead(16);
    return { kind: 'chunk', flags: r.readUInt16BE(0), type: r.readUInt16BE(2), cookie: r.readBigUInt64BE(4), payload: await this.mustRead(r.readUInt32BE(12)) };
  }

  /** The NBD error of a one-chunk structured error reply or a simple reply (0 for success). */
  async replyError(): Promise<number> {
    const r = await this.reply();
    if (r.kind === 'simple') return r.error;
    return r.type & 0x8000 ? r.payload.readUInt32BE(0) : 0;
  }

  /** Reads exactly n bytes, failing when the server closes first. */
  async mustRead(n: number): Promise<Buffer> {
    const b = await this.reader.read(n);
    if (!b) throw new Error(`the server closed the connection (wanted ${n} bytes)`);
    return b;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A 32-bit big-endian value. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** A 16-bit big-endian value. */
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

/** A string preceded by its 32-bit length. */
export function str32(s: string): Buffer {
  return Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
}
