/**
 * Imported first by main.ts: OpenTelemetry must patch `http` before Nest and
 * Express load it, so every request gets a span that honours its `traceparent`.
 */
import { startTelemetry } from './otel';

startTelemetry();
