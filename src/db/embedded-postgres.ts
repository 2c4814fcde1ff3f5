import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { InfrastructureError } from '../common/errors';
import { DataDirLock } from './data-dir-lock';

/**
 * Connections the socket server accepts. The gateway's pool uses exactly one (see
 * Database.open); a little slack lets a replacement connect while the server is
 * still tearing down a dropped one.
 *
 * Why one: PGlite is a single backend. pglite-socket multiplexes connections onto
 * it message by message, pinning only while a transaction is open, so two clients
 * interleave extended-protocol messages (Parse/Bind/Execute) and share session state
 * (electric-sql/pglite#1046, #977).
 */
const SOCKET_MAX_CONNECTIONS = 4;

/** The socket file name libpq and `pg` derive from a directory and a port. */
const SOCKET_PORT = 5432;
/** sun_path holds 108 bytes on Linux; longer paths fall back to loopback TCP. */
const MAX_SOCKET_PATH = 100;

/** Where things live under the gateway's data directory. */
export function embeddedPaths(dataDir: string): {
  pgdata: string;
  lockFile: string;
  socketDir: string;
} {
  return {
    pgdata: join(dataDir, 'pglite'),
    lockFile: join(dataDir, 'pglite.lock'),
    socketDir: join(dataDir, 'pglite-socket'),
  };
}

/**
 * PGlite persisted under `<dataDir>/pglite`, served on a Unix socket in a directory
 * only the gateway's user may enter (the socket server has no authentication, so a
 * TCP port would let any local user at the audit trail), and reached through `pg`
 * like any PostgreSQL server. Falls back to a free loopback port when the socket
 * path would be too long.
 */
export class EmbeddedPostgres {
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    private readonly lock: DataDirLock,
    readonly host: string,
    readonly port: number,
  ) {}

  /** Fails with DataDirLockedError when another gateway holds the directory. */
  static async start(dataDir: string): Promise<EmbeddedPostgres> {
    const { pgdata, lockFile, socketDir } = embeddedPaths(dataDir);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const lock = await DataDirLock.acquire(lockFile);
    let db: PGlite | undefined;
    try {
      db = await PGlite.create({ dataDir: pgdata });
      const socketPath = join(socketDir, `.s.PGSQL.${SOCKET_PORT}`);
      if (socketPath.length <= MAX_SOCKET_PATH) {
        await mkdir(socketDir, { recursive: true, mode: 0o700 });
        await chmod(socketDir, 0o700);
        // A socket file left by a killed gateway; the data-dir lock says it is ours.
        await rm(socketPath, { force: true });
        const server = new PGLiteSocketServer({
          db,
          path: socketPath,
          maxConnections: SOCKET_MAX_CONNECTIONS,
        });
        await server.start();
        return new EmbeddedPostgres(db, server, lock, socketDir, SOCKET_PORT);
      }
      const server = new PGLiteSocketServer({
        db,
        host: '127.0.0.1',
        port: 0,
        maxConnections: SOCKET_MAX_CONNECTIONS,
      });
      await server.start();
      const { host, port } = parseHostPort(server.getServerConn());
      return new EmbeddedPostgres(db, server, lock, host, port);
    } catch (err) {
      await db?.close().catch(() => undefined);
      await lock.release();
      throw new InfrastructureError(`could not start the embedded database in ${pgdata}`, false, {
        cause: err,
      });
    }
  }

  /** Stops accepting connections, then closes PGlite (checkpointing its WAL), then unlocks. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.server.stop();
      } finally {
        try {
          if (!this.db.closed) await this.db.close();
        } finally {
          await this.lock.release();
        }
      }
    })();
    return this.stopping;
  }
}

function parseHostPort(conn: string): { host: string; port: number } {
  const i = conn.lastIndexOf(':');
  const port = Number(conn.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port <= 0) {
    throw new Error(`unexpected pglite-socket address "${conn}"`);
  }
  return { host: conn.slice(0, i), port };
}
