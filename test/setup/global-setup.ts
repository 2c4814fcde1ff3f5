import type { TestProject } from 'vitest/node';
import { startKafka } from '../support/kafka';
import { startPostgres } from '../support/postgres';
import '../support/provided-context';

/** Projects whose tests need no servers: their runs stay fast. */
const SERVERLESS_PROJECTS = new Set(['unit']);

/**
 * Starts the real servers the medium and e2e tests need, once per run, and hands
 * their addresses to the tests through `inject()`.
 *
 * Vitest calls this once per project that has tests queued. When several projects
 * run together they share one server through a reference count on the main
 * process's globalThis, and the last teardown stops it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  if (!SERVERLESS_PROJECTS.has(project.name)) {
    // Both start at once: the broker's JVM and PostgreSQL's initdb overlap.
    const [postgres, kafka] = await Promise.all([
      sharedServer('postgres', startPostgres),
      sharedServer('kafka', async () => {
        const broker = await startKafka();
        return { url: broker.brokers, stop: () => broker.stop() };
      }),
    ]);
    stops.push(postgres.release, kafka.release);
    project.provide('postgresUrl', postgres.url);
    project.provide('kafkaBrokers', kafka.url);
  }
  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}

interface Shared {
  readonly url: string;
  release(): Promise<void>;
}

interface Entry {
  server: Promise<{ url: string; stop(): Promise<void> }>;
  users: number;
}

const REGISTRY = Symbol.for('rungate.test.sharedServers');

async function sharedServer(
  name: string,
  start: () => Promise<{ url: string; stop(): Promise<void> }>,
): Promise<Shared> {
  const holder = globalThis as { [REGISTRY]?: Map<string, Entry> };
  const registry = (holder[REGISTRY] ??= new Map<string, Entry>());
  let entry = registry.get(name);
  if (entry === undefined) {
    entry = { server: start(), users: 0 };
    registry.set(name, entry);
    // A failed start must not be handed to the next project.
    entry.server.catch(() => registry.delete(name));
  }
  entry.users++;
  const server = await entry.server;
  const current = entry;
  return {
    url: server.url,
    release: async () => {
      current.users--;
      if (current.users === 0) {
        registry.delete(name);
        await server.stop();
      }
    },
  };
}
