import { rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { DiskImageError } from '../errors.js';
import { ByteBudget } from './budget.js';
import { BufferPool } from './buffer-pool.js';
import { NbdConnection } from './connection.js';
import type { NbdExport } from './export.js';
import type { ServeStats } from './transmission.js';
import { limitNote, NBD_CONNECTION_BUDGET, NBD_HANDSHAKE_TIMEOUT_MS, NBD_MAX_CONNECTIONS, NBD_MAX_IN_FLIGHT, NBD_SERVER_BUDGET } from '../limits.js';

/** Where a server listens: a Unix socket, or a TCP address and port (0: any free port). */
export type ListenAddress = { socket: string } | { host: string; port: number };

/** Limits and hooks of a server. */
export interface NbdServerOptions {
  /** Payload bytes in flight over all connections (until their replies reach the kernel), and READ buffers kept for reuse (default 32 MiB each). */
  budget?: number;
  /** Payload bytes in flight on one connection (default 8 MiB, a quarter of the server's; a larger request takes all of it). */
  connectionBudget?: number;
  /** Requests in flight on one connection (default 64). */
  maxInFlight?: number;
  /** Milliseconds a client has to finish the handshake before it is disconnected (default 10 s); the transmission phase has no timeout. */
  handshakeTimeout?: number;
  /** Connections open at once (default 128); one more is closed before the greeting. */
  maxConnections?: number;
  /** Told of each client dropped for breaking the protocol, stalling in the handshake or coming over the connection cap. */
  onWarning?: (message: string) => void;
}

/**
 * An NBD server (NetworkBlockDevice/nbd doc/proto.md, fixed newstyle, no
 * TLS) serving a set of exports to up to maxConnections clients at once. One
 * NbdExport object serves every connection to its export.
 */
export class NbdServer {
  readonly stats: ServeStats = { connections: 0, readBytes: 0, writtenBytes: 0 };
  private readonly server: Server;
  private readonly connections = new Set<NbdConnection>();
  private closing = false;

  constructor(exports: NbdExport[], options: NbdServerOptions = {}) {
    const table = new Map(exports.map((e) => [e.name, e]));
    const budget = options.budget ?? NBD_SERVER_BUDGET;
    const context = {
      exports: table,
      budget: new ByteBudget(budget),
      pool: new BufferPool(budget),
      connectionBudget: options.connectionBudget ?? NBD_CONNECTION_BUDGET,
      maxInFlight: options.maxInFlight ?? NBD_MAX_IN_FLIGHT,
      handshakeTimeout: options.handshakeTimeout ?? NBD_HANDSHAKE_TIMEOUT_MS,
      stats: this.stats,
      shuttingDown: () => this.closing,
      onWarning: options.onWarning ?? (() => undefined),
    };
    const maxConnections = options.maxConnections ?? NBD_MAX_CONNECTIONS;
    this.server = createServer((socket: Socket) => {
      if (this.closing) return void socket.destroy();
      if (this.connections.size >= maxConnections) {
        socket.destroy();
        return context.onWarning(`a client was refused: ${maxConnections} connections are open (${limitNote('NBD_MAX_CONNECTIONS', maxConnections)})`);
      }
      if (socket.remoteFamily) socket.setNoDelay(true);
      const conn = new NbdConnection(socket, ++this.stats.connections, context);
      this.connections.add(conn);
      void conn.done.finally(() => this.connections.delete(conn));
    });
  }

  /**
   * Starts listening; resolves to the TCP port (0 for a Unix socket). A
   * socket path left by a server that is gone (nothing accepts on it) is
   * replaced; one a live server listens on, or any address in use, is a USAGE error.
   */
  async listen(address: ListenAddress): Promise<number> {
    try {
      return await this.bind(address);
    } catch (err) {
      if (!('socket' in address) || !(err instanceof DiskImageError) || err.code !== 'USAGE' || (await accepts(address.socket))) throw err;
      rmSync(address.socket, { force: true });
      return this.bind(address);
    }
  }

  private bind(address: ListenAddress): Promise<number> {
    return new Promise((resolve, reject) => {
      const where = 'socket' in address ? address.socket : `${address.host}:${address.port}`;
      this.server.once('error', (err: NodeJS.ErrnoException) => {
        const code = err.code === 'EADDRINUSE' ? 'USAGE' : 'IO';
        reject(new DiskImageError(code, `cannot listen on ${where}: ${err.code === 'EADDRINUSE' ? 'address in use' : (err.code ?? err.message)}`, { path: where }));
      });
      const ready = () => {
        const a = this.server.address();
        resolve(typeof a === 'object' && a ? a.port : 0);
      };
      if ('socket' in address) this.server.listen(address.socket, ready);
      else this.server.listen(address.port, address.host, ready);
    });
  }

  /** Stops accepting, answers what each client has in flight, closes every connection (and removes a Unix socket). */
  async close(): Promise<void> {
    this.closing = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([...this.connections].map((c) => c.stop()));
    await stopped;
  }
}

/** True when something accepts connections on the Unix socket `path`. */
function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path, () => {
      probe.destroy();
      resolve(true);
    });
    probe.on('error', () => resolve(false));
  });
}
