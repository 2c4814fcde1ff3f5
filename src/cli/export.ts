/**
 * `rungate export`: a session's run record as a file. The gateway renders the
 * notebook and the HTML report; a PDF is the report printed by a local headless
 * Chromium with no network (the report loads nothing anyway: its CSP forbids it).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CliError, ExitCode } from './errors';
import type { GatewayClient } from './gateway-client';

export type ExportFormat = 'ipynb' | 'html' | 'pdf';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['ipynb', 'html', 'pdf'];

const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
const PRINT_TIMEOUT_MS = 60_000;

/** The run record of `session` in `format`, as bytes. */
export async function exportSession(
  client: GatewayClient,
  session: string,
  format: ExportFormat,
  env: NodeJS.ProcessEnv,
): Promise<Buffer> {
  const id = encodeURIComponent(session);
  if (format === 'ipynb') {
    return client.download(`/v1/sessions/${id}/notebook`, 'application/x-ipynb+json');
  }
  const html = await client.download(`/v1/sessions/${id}/report`, 'text/html');
  if (format === 'html') return html;
  return printToPdf(html, chromiumBinary(env));
}

/** `RUNGATE_CHROMIUM`, else the first Chromium on PATH. */
export function chromiumBinary(env: NodeJS.ProcessEnv): string {
  if (env.RUNGATE_CHROMIUM) return env.RUNGATE_CHROMIUM;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    for (const name of CHROMIUM_NAMES) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  throw new CliError(
    'a PDF needs Chromium (apt-get install chromium, or set RUNGATE_CHROMIUM to its path); --format html gives the same report',
    ExitCode.Failure,
    'chromium_missing',
  );
}

async function printToPdf(html: Buffer, chromium: string): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'rungate-export-'));
  try {
    const page = join(dir, 'report.html');
    const pdf = join(dir, 'report.pdf');
    await writeFile(page, html);
    const args = [
      '--headless',
      '--disable-gpu',
      '--no-first-run',
      '--no-pdf-header-footer',
      `--user-data-dir=${join(dir, 'profile')}`,
      // No network at all: the report is self-contained, and printing must not fetch.
      '--proxy-server=127.0.0.1:9',
      '--proxy-bypass-list=<-loopback>',
      `--print-to-pdf=${pdf}`,
      `file://${page}`,
    ];
    // Chromium refuses to run as root inside its own sandbox.
    if (process.getuid?.() === 0) args.unshift('--no-sandbox');
    await run(chromium, args);
    return await readFile(pdf).catch(() => {
      throw new CliError('Chromium printed no PDF', ExitCode.Failure, 'pdf_failed');
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), PRINT_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new CliError(`cannot run ${command}: ${err.message}`, ExitCode.Failure, 'pdf_failed'));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const why = signal ? `was stopped (${signal})` : `exited with ${code}`;
      reject(
        new CliError(
          `Chromium ${why} while printing the PDF: ${stderr.trim().split('\n').at(-1) ?? ''}`,
          ExitCode.Failure,
          'pdf_failed',
        ),
      );
    });
  });
}
