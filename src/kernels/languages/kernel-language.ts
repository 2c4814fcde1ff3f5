/**
 * What the gateway needs to say to a kernel in the kernel's own language: the code of
 * its silent set-up cells and of the injected parameters cell. One adapter per
 * language, chosen from the kernel's `language_info.name` (or, before a kernel runs,
 * its kernelspec's `language`), as papermill chooses its translators.
 *
 * Every method returns source code built from data the gateway holds (credentials,
 * relay socket paths, parameter values). An adapter must never splice such a value
 * into code as text: it goes in as a literal of the language that is escaped
 * completely (for Python: a JSON document inside a string literal, or a literal
 * written by `toPythonLiteral`), so no value can end its literal and become code.
 *
 * Spec: https://jupyter-client.readthedocs.io/en/latest/messaging.html#kernel-info
 */
import type { Relay } from '../forwarding';

/** The JSON Schema of a runbook's parameter object (`ParameterSpec.schema`). */
export type ParameterSchema = Readonly<Record<string, unknown>>;

export interface KernelLanguageAdapter {
  /** Lower-case `language_info.name` this adapter serves (`python`). */
  readonly language: string;

  /**
   * Code that sets these variables in the kernel process's environment, replacing
   * values of the same names and leaving others alone. Ends without a newline.
   */
  setEnvironment(env: Readonly<Record<string, string>>): string;

  /**
   * Code run once per kernel so that, while each cell runs, `TRACEPARENT` in the
   * environment is the trace context sent in that cell's execute_request metadata
   * (`metadata.traceparent`), and unset when none was sent. Ends without a newline.
   */
  traceContextHook(): string;

  /**
   * Code a fresh kernel runs while it waits in the pool: imports the session set-up
   * will need, so binding a kernel to a session does not wait for them. Ends without
   * a newline.
   */
  warmUp(): string;

  /**
   * Code that starts the kernel's side of target forwarding (one listener per relay,
   * passing connections to the relay's Unix socket). Empty when there are no relays,
   * otherwise ends with a newline.
   */
  startRelays(relays: readonly Relay[]): string;

  /**
   * The parameters cell for values already validated against the runbook's schema:
   * one assignment per value, in the order given. `schema` (the runbook's parameter
   * JSON Schema) decides representations the values alone do not (a `number`
   * parameter written as a float even when whole). Throws `RungateError(InvalidRequest)`
   * for a name that is not an identifier of the language.
   */
  renderParameters(
    values: Readonly<Record<string, unknown>>,
    schema?: ParameterSchema | null,
  ): string;
}
