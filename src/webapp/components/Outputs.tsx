import { useLayoutEffect, useMemo, useRef } from 'preact/hooks';
import { ansiToHtml, highlightToHtml, markdownToHtml } from '../lib/render';
import type { MimeBundle, NotebookOutput } from '../lib/types';

/**
 * Kernel outputs. Everything a kernel prints is untrusted: text is escaped, markdown
 * sanitized, images shown through <img> (an SVG in an <img> runs no script), and HTML
 * (pandas tables) goes into an iframe sandboxed without scripts and without the app's
 * origin, so a `<script>` or an `onerror` in it runs nowhere.
 */
export function Outputs({
  outputs,
  truncated,
}: {
  outputs: NotebookOutput[];
  truncated?: boolean;
}) {
  if (outputs.length === 0 && !truncated) return null;
  return (
    <div class="outputs">
      {outputs.map((o, i) => (
        <Output key={i} output={o} />
      ))}
      {truncated && (
        <p class="note" role="note">
          Output truncated: the gateway keeps only the first part of very long outputs.
        </p>
      )}
    </div>
  );
}

/** Terminal text with its colours, converted once per text (streams re-render often). */
function Terminal({ text, class: cls }: { text: string; class: string }) {
  const html = useMemo(() => ansiToHtml(text), [text]);
  return <pre class={cls} dangerouslySetInnerHTML={{ __html: html }} />;
}

export function Output({ output }: { output: NotebookOutput }) {
  switch (output.output_type) {
    case 'stream':
      return <Terminal class={`output stream ${output.name}`} text={output.text} />;
    case 'error':
      return (
        <div class="output error" role="group" aria-label={`Error: ${output.ename}`}>
          <pre
            class="traceback"
            dangerouslySetInnerHTML={{
              __html: ansiToHtml(
                output.traceback.length > 0
                  ? output.traceback.join('\n')
                  : `${output.ename}: ${output.evalue}`,
              ),
            }}
          />
        </div>
      );
    case 'display_data':
    case 'execute_result':
      return <Bundle data={output.data} />;
    default:
      return null;
  }
}

/** The richest representation this app shows safely, as JupyterLab ranks them. */
const ORDER = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/svg+xml',
  'text/html',
  'text/markdown',
  'application/json',
  'text/plain',
] as const;

function Bundle({ data }: { data: MimeBundle }) {
  const mime = ORDER.find((m) => data[m] !== undefined && data[m] !== null);
  if (mime === undefined) {
    return (
      <p class="output note">
        An output of type {Object.keys(data).join(', ') || 'unknown'} that this page cannot show.
      </p>
    );
  }
  const value = data[mime];
  const alt = typeof data['text/plain'] === 'string' ? data['text/plain'] : 'image output';
  switch (mime) {
    case 'image/png':
    case 'image/jpeg':
    case 'image/gif':
      return (
        <img
          class="output image"
          alt={alt}
          src={`data:${mime};base64,${String(joined(value)).replace(/\s+/g, '')}`}
        />
      );
    case 'image/svg+xml':
      // As an image, never as markup in this document: an SVG loaded by <img> runs no script.
      return (
        <img
          class="output image"
          alt={alt}
          src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(joined(value))}`}
        />
      );
    case 'text/html':
      return <SandboxedHtml html={joined(value)} />;
    case 'text/markdown':
      return (
        <div
          class="output markdown"
          dangerouslySetInnerHTML={{ __html: markdownToHtml(joined(value)) }}
        />
      );
    case 'application/json':
      return (
        <pre class="output json">
          <code
            class="hljs"
            dangerouslySetInnerHTML={{
              __html: highlightToHtml(JSON.stringify(value, null, 2), 'json'),
            }}
          />
        </pre>
      );
    case 'text/plain':
      return <Terminal class="output plain" text={joined(value)} />;
  }
}

/** nbformat lets a text value be a list of lines. */
function joined(v: unknown): string {
  return Array.isArray(v) ? v.join('') : typeof v === 'string' ? v : JSON.stringify(v);
}

// The frame's own policy: no network at all (a tracking pixel or a form post in kernel
// HTML goes nowhere), inline styles and data: images only. The page's CSP applies too.
const FRAME_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:";
const FRAME_STYLE = `
:root { color-scheme: light dark; }
body { margin: 0; padding: 4px; font: 13px/1.4 system-ui, sans-serif; color: #1f2328; background: transparent; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 2px 0 6px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; position: sticky; top: 0; }
tr:nth-child(even) td { background: #f8f9fa; }
small { color: #57606a; }
@media (prefers-color-scheme: dark) {
  body { color: #e6edf3; }
  th, td { border-color: #30363d; }
  th { background: #161b22; }
  tr:nth-child(even) td { background: #11161d; }
  small { color: #8b949e; }
}`;

/** Rows and lines decide the frame's height: measuring the document would need scripts in it. */
export function estimateFrameHeight(html: string): number {
  const rows = (html.match(/<tr[\s>]/gi) ?? []).length;
  const lines = (html.match(/<(p|br|div|li|h[1-6]|caption|pre|form|img|hr)[\s>/]/gi) ?? []).length;
  return Math.min(480, Math.max(48, 24 + rows * 30 + lines * 28));
}

function SandboxedHtml({ html }: { html: string }) {
  const host = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    const el = host.current;
    if (el === null) return;
    // Built by hand so that the sandbox is in place before the document is given to the
    // frame: an empty sandbox means no scripts, no same origin, no forms, no popups,
    // no top navigation.
    const frame = document.createElement('iframe');
    frame.setAttribute('sandbox', '');
    frame.setAttribute('referrerpolicy', 'no-referrer');
    frame.setAttribute('title', 'HTML output (sandboxed)');
    frame.className = 'output html';
    frame.style.height = `${estimateFrameHeight(html)}px`;
    frame.srcdoc =
      `<!doctype html><html><head><meta charset="utf-8">` +
      `<meta http-equiv="Content-Security-Policy" content="${FRAME_CSP}">` +
      `<style>${FRAME_STYLE}</style></head><body>${html}</body></html>`;
    el.replaceChildren(frame);
    return () => el.replaceChildren();
  }, [html]);
  return <div ref={host} class="frame-host" />;
}
