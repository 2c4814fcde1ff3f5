/**
 * What test/setup/global-setup.ts hands to tests through `inject()`. Imported for
 * its type augmentation by the global setup; tests get it through tsconfig's
 * include of test/**.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the PostgreSQL server started for this run; use createDatabase() per test file. */
    postgresUrl: string;
    /** `host:port` of the Kafka broker started for this run; use a unique topic per test. */
    kafkaBrokers: string;
  }
}

export {};
