import type { Socket } from 'node:net';
import { ByteBudget } from './budget.js';
import type { BufferPool } from './buffer-pool.js';
import { ByteReader } from './byte-reader.js';
import type { NbdExport } from './export.js';
import { negotiate } from './handshake.js';
import { Transmission, type ServeStats } from './transmission.js';

/** What every connection of a server shares. */
export interface ConnectionContext {
  exports: ReadonlyMap<string, NbdExport>;
  /** The server-wide budget of payload bytes in flight. */
  budget: ByteBudget;
  /** READ buffers shared by every connection. */
  pool: BufferPool;
  /** Payload bytes one connection may have in flight. */
  connectionBudget: number;
  /** Requests one connection may have in flight. */
  maxInFlight: number;
  /** Milliseconds a client has to finish the handshake. */
  handshakeTimeout: number;
  stats: ServeStats;
  shuttingDown(): boolean;
  onWarning(message: string): void;
}

/**
 * One client: the handshake (within the context's handshakeTimeout, else
 * the socket is destroyed), then the transmission phase (no timeout), then
 * the socket closed. `done` resolves when it is over, however it ended; errors of the
 * socket end the connection and nothing else.
 */
export class NbdConnection {
  readonly done: Promise<void>;
  private transmission?: Transmission;

  constructor(
    private readonly socket: Socket,
    private readonly id: number,
    private readonly context: ConnectionContext,
  ) {
    socket.on('error', () => undefined);
    this.done = this.serve();
  }

  private async serve(): Promise<void> {
    const { socket, context } = this;
    const reader = new ByteReader(socket);
    const violation = (why: string) => context.onWarning(`client ${this.id}: ${why}; connection closed`);
    const timer = setTimeout(() => {
      violation(`handshake not finished within ${context.handshakeTimeout} ms`);
      socket.destroy();
    }, context.handshakeTimeout);
    try {
      const session = await negotiate({ reader, send: (b) => void socket.write(b), violation, shuttingDown: context.shuttingDown }, context.exports);
      clearTimeout(timer);
      if (!session) return;
      this.transmission = new Transmission(socket, reader, session, {
        budgets: { connection: new ByteBudget(context.connectionBudget), server: context.budget },
        pool: context.pool,
        maxInFlight: context.maxInFlight,
        stats: context.stats,
        violation,
      });
      await this.transmission.run();
    } finally {
      clearTimeout(timer);
      await closeSocket(socket);
    }
  }

  /** Answers what is in flight, then closes; resolves once closed. */
  async stop(): Promise<void> {
    if (this.transmission) await this.transmission.stop();
    this.socket.destroy();
    await this.done;
  }
}

/** Ends the socket once what was written has left (or at once when it is already broken). */
function closeSocket(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    socket.end(() => socket.destroy());
  });
}
