import { createInterface } from 'node:readline/promises';

/** The streams a command talks to; tests and `main` pass the process's. */
export interface Streams {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

const SPINNER_FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Where a command writes. Results go to stdout (one JSON document with `--json`);
 * progress, prompts and errors go to stderr, so `--json` output can be piped as is.
 * A spinner with the elapsed time runs only when stderr is a terminal.
 */
export class Terminal {
  private spinner:
    { label: string; started: number; timer: NodeJS.Timeout; frame: number } | undefined;
  readonly color: boolean;

  constructor(
    readonly json: boolean,
    private readonly streams: Streams,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.color = streams.stderr.isTTY === true && env.NO_COLOR === undefined;
  }

  /** Whether a person can answer questions (stdin and stderr are terminals, and not `--json`). */
  get interactive(): boolean {
    return !this.json && this.streams.stdin.isTTY === true && this.streams.stderr.isTTY === true;
  }

  /** A line of the result (human mode only; `--json` prints {@link result} instead). */
  print(text = ''): void {
    if (this.json) return;
    this.withSpinnerCleared(() => this.streams.stdout.write(`${text}\n`));
  }

  /** Raw text of the result, as a cell printed it (human mode only). */
  write(text: string): void {
    if (this.json || text === '') return;
    this.withSpinnerCleared(() => this.streams.stdout.write(text));
  }

  /** The machine-readable result of a command: one JSON document on stdout. */
  result(value: unknown): void {
    if (this.json) this.streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Progress and notices, on stderr in both modes. */
  note(text: string): void {
    this.withSpinnerCleared(() => this.streams.stderr.write(`${text}\n`));
  }

  /** Shows a spinner with `label` and the elapsed time until {@link stopSpinner}. */
  startSpinner(label: string): void {
    if (this.streams.stderr.isTTY !== true) return;
    this.stopSpinner();
    const spinner = {
      label,
      started: Date.now(),
      frame: 0,
      timer: setInterval(() => this.drawSpinner(), 100),
    };
    spinner.timer.unref();
    this.spinner = spinner;
    this.drawSpinner();
  }

  /** Changes the spinner's label; the elapsed time keeps counting. */
  updateSpinner(label: string): void {
    if (this.spinner !== undefined) this.spinner.label = label;
  }

  stopSpinner(): void {
    if (this.spinner === undefined) return;
    clearInterval(this.spinner.timer);
    this.spinner = undefined;
    this.streams.stderr.write('\r\x1b[2K');
  }

  /** Asks a yes/no question on the terminal; answers false when nobody can answer. */
  async confirm(question: string): Promise<boolean> {
    const answer = await this.ask(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  }

  /** Asks for a line of text on the terminal. */
  async ask(question: string): Promise<string> {
    if (!this.interactive) return '';
    this.stopSpinner();
    const rl = createInterface({ input: this.streams.stdin, output: this.streams.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  }

  dim(text: string): string {
    return this.color ? `\x1b[2m${text}\x1b[22m` : text;
  }

  bold(text: string): string {
    return this.color ? `\x1b[1m${text}\x1b[22m` : text;
  }

  red(text: string): string {
    return this.color ? `\x1b[31m${text}\x1b[39m` : text;
  }

  green(text: string): string {
    return this.color ? `\x1b[32m${text}\x1b[39m` : text;
  }

  yellow(text: string): string {
    return this.color ? `\x1b[33m${text}\x1b[39m` : text;
  }

  private drawSpinner(): void {
    const s = this.spinner;
    if (s === undefined) return;
    const elapsed = ((Date.now() - s.started) / 1000).toFixed(1);
    s.frame = (s.frame + 1) % SPINNER_FRAMES.length;
    this.streams.stderr.write(
      `\r\x1b[2K${SPINNER_FRAMES[s.frame]} ${s.label} ${this.dim(`${elapsed}s`)}`,
    );
  }

  private withSpinnerCleared(write: () => void): void {
    if (this.spinner !== undefined) this.streams.stderr.write('\r\x1b[2K');
    write();
    this.drawSpinner();
  }
}

/** Aligned columns for a list on a terminal. */
export function table(rows: readonly (readonly string[])[], header: readonly string[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A duration for people: `850 ms`, `12.3 s`, `4 min 05 s`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}
