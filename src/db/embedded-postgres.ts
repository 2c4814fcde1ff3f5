import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
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
 * PGlite persisted under `<dataDir>/pglite`, run on a thread of its own
 * (embedded-postgres.worker.ts), served on a Unix socket in a directory
 * only the gateway's user may enter (the socket server has no authentication, so a
 * TCP port would let any local user at the audit trail), and reached through `pg`
 * like any PostgreSQL server. Falls back to a free loopback port when the socket
 * path would be too long.
 */
export class EmbeddedPostgres {
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly lock: DataDirLock,
    readonly host: string,
    readonly port: number,
  ) {}

  /** Fails with DataDirLockedError when another gateway holds the directory. */
  static async start(dataDir: string): Promise<EmbeddedPostgres> {
    const { pgdata, lockFile, socketDir } = embeddedPaths(dataDir);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const lock = await DataDirLock.acquire(lockFile);
    let worker: Worker | undefined;
    try {
      const socketPath = join(socketDir, `.s.PGSQL.${SOCKET_PORT}`);
      const onSocket = socketPath.length <= MAX_SOCKET_PATH;
      if (onSocket) {
        await mkdir(socketDir, { recursive: true, mode: 0o700 });
        await chmod(socketDir, 0o700);
        // A socket file left by a killed gateway; the data-dir lock says it is ours.
        await rm(socketPath, { force: true });
      }
      const input: EmbeddedWorkerInput = {
        pgdata,
        socketPath: onSocket ? socketPath : undefined,
        maxConnections: SOCKET_MAX_CONNECTIONS,
      };
      worker = startWorker(input);
      const ready = await firstMessage(worker);
      if (ready.type !== 'ready') {
        throw new Error(ready.message);
      }
      // After start-up, a failing worker shows as failing queries (503), not as a crash.
      worker.on('error', () => undefined);
      if (onSocket) return new EmbeddedPostgres(worker, lock, socketDir, SOCKET_PORT);
      const { host, port } = parseHostPort(ready.conn);
      return new EmbeddedPostgres(worker, lock, host, port);
    } catch (err) {
      await worker?.terminate().catch(() => undefined);
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
        const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
        this.worker.postMessage('stop');
        // The thread ends by itself once PGlite is closed; terminating it mid-close
        // could leave the files half-written.
        await exited;
      } finally {
        await this.lock.release();
      }
    })();
    return this.stopping;
  }
}

/** What the database's thread is given (embedded-postgres.worker.js). */
interface EmbeddedWorkerInput {
  readonly pgdata: string;
  /** Unix socket path, or undefined for a free loopback port. */
  readonly socketPath: string | undefined;
  readonly maxConnections: number;
}

/** What it says, once: ready or failed. Stopped, it ends (the `exit` event). */
type EmbeddedWorkerMessage =
  | { readonly type: 'ready'; readonly conn: string }
  | { readonly type: 'failed'; readonly message: string };

/** The database's thread: a plain script beside this file, in src/ and in dist/ alike. */
function startWorker(input: EmbeddedWorkerInput): Worker {
  return new Worker(join(__dirname, 'embedded-postgres.worker.js'), {
    workerData: input,
    // None of the gateway's flags (a debugger port, loaders): the thread needs none.
    execArgv: [],
  });
}

/** The worker's next message; its exit or error before one is a failure. */
function firstMessage(worker: Worker): Promise<EmbeddedWorkerMessage> {
  return new Promise((resolve, reject) => {
    const done = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (msg: EmbeddedWorkerMessage) => {
      done();
      resolve(msg);
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const onExit = (code: number) => {
      done();
      reject(new Error(`the embedded database's thread exited (code ${code})`));
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

function parseHostPort(conn: string): { host: string; port: number } {
  const i = conn.lastIndexOf(':');
  const port = Number(conn.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port <= 0) {
    throw new Error(`unexpected pglite-socket address "${conn}"`);
  }
  return { host: conn.slice(0, i), port };
}
