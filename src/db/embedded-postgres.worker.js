'use strict';
/*
 * The embedded database's own thread (see embedded-postgres.ts for the messages).
 *
 * PGlite is PostgreSQL compiled to WebAssembly and runs on the thread that calls it;
 * in the gateway's thread it took about as much CPU per cell as the gateway itself,
 * each statement of a cell's path waiting for the event loop and the other way round.
 * Here it has a thread (a core, where there are two) of its own, and the gateway
 * reaches it over the same socket as before.
 *
 * Plain JavaScript, copied to dist/ as it is: run from the TypeScript sources (tests,
 * scripts), a worker compiling itself would load the compiler's native module once per
 * thread, and a second load after the first thread ended crashes the process.
 */
const { parentPort, workerData } = require('node:worker_threads');
const { PGlite } = require('@electric-sql/pglite');
const { PGLiteSocketServer } = require('@electric-sql/pglite-socket');

async function main() {
  const port = parentPort;
  if (port === null) throw new Error('embedded-postgres.worker runs as a worker thread only');
  const input = workerData;
  let db;
  let server;
  try {
    db = await PGlite.create({ dataDir: input.pgdata });
    server = new PGLiteSocketServer({
      db,
      maxConnections: input.maxConnections,
      ...(input.socketPath !== undefined
        ? { path: input.socketPath }
        : { host: '127.0.0.1', port: 0 }),
    });
    await server.start();
  } catch (err) {
    if (db) await db.close().catch(() => undefined);
    port.postMessage({ type: 'failed', message: String(err && err.message) });
    port.close();
    return;
  }
  port.postMessage({ type: 'ready', conn: server.getServerConn() });
  port.on('message', (msg) => {
    if (msg !== 'stop') return;
    void (async () => {
      try {
        await server.stop();
      } finally {
        // Closing checkpoints PGlite's WAL, so the files are left consistent.
        if (!db.closed) await db.close();
        // With the port closed nothing is left to do: the thread ends, which the
        // gateway waits for.
        port.close();
      }
    })();
  });
}

void main();
