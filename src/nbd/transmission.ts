import type { Socket } from 'node:net';
import { DiskImageError } from '../errors.js';
import type { ByteBudget } from './budget.js';
import type { BufferPool } from './buffer-pool.js';
import type { ByteReader } from './byte-reader.js';
import { NBD_CMD_BLOCK_STATUS, NBD_CMD_DISC, NBD_CMD_FLAG_FUA, NBD_CMD_FLAG_NO_HOLE, NBD_CMD_FLAG_REQ_ONE, NBD_CMD_FLUSH, NBD_CMD_READ, NBD_CMD_TRIM, NBD_CMD_WRITE, NBD_CMD_WRITE_ZEROES, NBD_EINVAL, NBD_EIO, NBD_ENOSPC, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, NBD_REQUEST_MAGIC } from './constants.js';
import type { Session } from './handshake.js';
import { blockStatusChunk, chunkHeader, doneChunk, errorChunk, simpleReply } from './replies.js';
import { decodeRequest, refusal, REQUEST_HEADER, type NbdRequest } from './request.js';
import { limitNote, NBD_MAX_PAYLOAD, NBD_MAX_STATUS_DESCRIPTORS } from '../limits.js';

/** What a server counts over all its connections. */
export interface ServeStats {
  connections: number;
  /** Data bytes sent in READ replies. */
  readBytes: number;
  /** Data bytes received in WRITE requests that were written. */
  writtenBytes: number;
}

/** What a connection's transmission phase shares with the server. */
export interface TransmissionContext {
  /**
   * What a request's payload borrows until its reply has been handed to the
   * kernel: the connection's budget (smaller than the server's, so a client
   * that stops reading its replies pins that much and the others are still
   * served), then the server's (which bounds the whole server's memory).
   */
  budgets: { connection: ByteBudget; server: ByteBudget };
  /** Where READ payload buffers come from and go back to once sent. */
  pool: BufferPool;
  /** Most requests of this connection being handled or replied to at once. */
  maxInFlight: number;
  stats: ServeStats;
  violation(why: string): void;
}

/**
 * The transmission phase of one connection (proto.md, "Transmission"):
 * reads requests, runs them concurrently (replies may go out of order; a
 * reply's chunks are written together), and stops at NBD_CMD_DISC, at the
 * end of the stream, on a protocol violation, or when stopped. Memory is
 * bounded: at most `maxInFlight` requests, and a READ or WRITE payload is
 * read or allocated only once its bytes are borrowed from the budgets, which
 * get them back when the reply has been handed to the kernel.
 */
export class Transmission {
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  private stopping = false;

  constructor(
    private readonly socket: Socket,
    private readonly reader: ByteReader,
    private readonly session: Session,
    private readonly context: TransmissionContext,
  ) {}

  /** Serves requests until the client disconnects or breaks the protocol, or stop(); resolves once every reply is out. */
  async run(): Promise<void> {
    while (!this.stopping) {
      await this.until(() => this.inFlight < this.context.maxInFlight);
      const head = await this.reader.read(REQUEST_HEADER);
      if (!head || this.stopping) break;
      if (head.readUInt32BE(0) !== NBD_REQUEST_MAGIC) {
        this.context.violation(`bad request magic 0x${head.readUInt32BE(0).toString(16)}`);
        break;
      }
      const req = decodeRequest(head);
      if (req.type === NBD_CMD_DISC) break;
      if (req.type === NBD_CMD_WRITE && req.length > NBD_MAX_PAYLOAD) {
        this.context.violation(`write of ${req.length} bytes exceeds the maximum payload ${NBD_MAX_PAYLOAD} (${limitNote('NBD_MAX_PAYLOAD', NBD_MAX_PAYLOAD)})`);
        break;
      }
      const held = await this.borrow(req);
      const payload = req.type === NBD_CMD_WRITE ? await this.reader.read(req.length) : undefined;
      if (req.type === NBD_CMD_WRITE && !payload) {
        this.context.budgets.server.release(held.server);
        this.context.budgets.connection.release(held.connection);
        break;
      }
      this.inFlight++;
      void this.handle(req, payload).then(({ reply, pooled }) =>
        this.send(reply, () => {
          if (pooled) this.context.pool.give(pooled);
          this.context.budgets.server.release(held.server);
          this.context.budgets.connection.release(held.connection);
          this.inFlight--;
          this.wake();
        }),
      );
    }
    await this.until(() => this.inFlight === 0);
  }

  /** Stops reading requests; run() resolves once those in flight are answered. */
  stop(): Promise<void> {
    this.stopping = true;
    return this.until(() => this.inFlight === 0);
  }

  /** Borrows a READ or WRITE payload's bytes, the connection's first (none for a read that will be refused). */
  private async borrow(req: NbdRequest): Promise<{ connection: number; server: number }> {
    const bytes = req.type === NBD_CMD_WRITE || (req.type === NBD_CMD_READ && req.length <= NBD_MAX_PAYLOAD) ? req.length : 0;
    if (!bytes) return { connection: 0, server: 0 };
    const connection = await this.context.budgets.connection.acquire(bytes);
    return { connection, server: await this.context.budgets.server.acquire(bytes) };
  }

  /** Resolves once `ready()` holds (checked whenever a request finishes). */
  private async until(ready: () => boolean): Promise<void> {
    while (!ready()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Writes a reply's buffers as one piece; `done` runs once they are handed over (or the socket is gone). */
  private send(reply: Buffer[], done: () => void): void {
    if (this.socket.destroyed) return done();
    this.socket.cork();
    reply.forEach((b, i) => (i < reply.length - 1 ? this.socket.write(b) : this.socket.write(b, () => done())));
    this.socket.uncork();
  }

  /** Runs a request and returns its reply, and the pool's buffer it carries (back to the pool once sent). */
  private async handle(req: NbdRequest, payload: Buffer | undefined): Promise<{ reply: Buffer[]; pooled?: Buffer }> {
    const refused = refusal(req, this.session);
    if (refused) return { reply: this.error(req, refused.error, refused.message) };
    if (req.type === NBD_CMD_READ && req.length > 0) {
      const data = this.context.pool.take(req.length);
      try {
        return { reply: await this.read(req, data), pooled: data };
      } catch (err) {
        this.context.pool.give(data);
        return { reply: this.failure(req, err) };
      }
    }
    return { reply: await this.execute(req, payload) };
  }

  /** Runs a request other than a READ of data, and returns its reply. */
  private async execute(req: NbdRequest, payload: Buffer | undefined): Promise<Buffer[]> {
    const exp = this.session.export;
    const fua = (req.flags & NBD_CMD_FLAG_FUA) !== 0;
    try {
      switch (req.type) {
        case NBD_CMD_READ:
          return await this.read(req, Buffer.alloc(0));
        case NBD_CMD_WRITE:
          await exp.write(payload!, req.offset, fua);
          this.context.stats.writtenBytes += req.length;
          break;
        case NBD_CMD_FLUSH:
          await exp.flush();
          break;
        case NBD_CMD_TRIM:
          await exp.trim(req.offset, req.length, fua);
          break;
        case NBD_CMD_WRITE_ZEROES:
          await exp.writeZeroes(req.offset, req.length, fua, (req.flags & NBD_CMD_FLAG_NO_HOLE) !== 0);
          break;
        case NBD_CMD_BLOCK_STATUS:
          return await this.blockStatus(req);
      }
      return [simpleReply(0, req.cookie)];
    } catch (err) {
      return this.failure(req, err);
    }
  }

  /** The error reply for a request that failed while running. */
  private failure(req: NbdRequest, err: unknown): Buffer[] {
    return this.error(req, errorValue(err), err instanceof Error ? err.message : String(err));
  }

  /**
   * NBD_CMD_READ: one data chunk with the DONE flag (the data is complete
   * before it is sent, so no error can follow; that also satisfies DF), or a
   * simple reply and the data (proto.md, "Request types").
   */
  private async read(req: NbdRequest, data: Buffer): Promise<Buffer[]> {
    if (req.length) await this.session.export.read(data, req.offset);
    this.context.stats.readBytes += req.length;
    if (!this.session.structured) return [simpleReply(0, req.cookie), data];
    if (!req.length) return [doneChunk(req.cookie)];
    const offset = Buffer.alloc(8);
    offset.writeBigUInt64BE(BigInt(req.offset), 0);
    return [chunkHeader(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, req.cookie, 8 + req.length), offset, data];
  }

  /** NBD_CMD_BLOCK_STATUS: one chunk for base:allocation, one descriptor with REQ_ONE (proto.md, "Request types"). */
  private async blockStatus(req: NbdRequest): Promise<Buffer[]> {
    const one = (req.flags & NBD_CMD_FLAG_REQ_ONE) !== 0;
    const descriptors = await this.session.export.blockStatus(req.offset, req.length, one ? 1 : NBD_MAX_STATUS_DESCRIPTORS);
    return [blockStatusChunk(req.cookie, this.session.allocationContext!, descriptors, true)];
  }

  /** An error reply: a structured error chunk once structured replies are on (always for READ), else a simple reply. */
  private error(req: NbdRequest, error: number, message: string): Buffer[] {
    return [this.session.structured ? errorChunk(req.cookie, error, message) : simpleReply(error, req.cookie)];
  }
}

/** The NBD error value for a failure (proto.md, "Error values"): no space (ENOSPC, EDQUOT, EFBIG) as NBD_ENOSPC, a range error as NBD_EINVAL, the rest NBD_EIO. */
function errorValue(err: unknown): number {
  if (!(err instanceof DiskImageError)) return NBD_EIO;
  if (err.code === 'OUT_OF_RANGE') return NBD_EINVAL;
  return ['ENOSPC', 'EDQUOT', 'EFBIG'].includes(String(err.details.errno)) ? NBD_ENOSPC : NBD_EIO;
}
