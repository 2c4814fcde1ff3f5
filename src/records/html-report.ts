/**
 * A session as one self-contained HTML page for a postmortem or an auditor: who ran
 * what, when, why and under whose approval; a timeline; every cell with its class and
 * outputs; and whether the session's audit chain verifies.
 *
 * The page loads nothing and runs nothing: no script element is ever written, images
 * are inline `data:` URLs, and a Content-Security-Policy meta tag forbids scripts,
 * frames and every fetch but inline images and styles. Kernel HTML and markdown pass
 * through sanitize-html (tags and attributes allow-listed, no event handlers, no
 * scripts, images from `data:` only); SVG is shown as an image, where it cannot run
 * script. Everything else is text, escaped.
 */
import { Marked } from 'marked';
import sanitizeHtml from 'sanitize-html';
import type { ExecutionRecord, NotebookOutput } from '../sessions/sessions.types';
import {
  credentialsOf,
  executionFacts,
  timelineOf,
  type ExecutionFacts,
  type RecordReview,
  type RunRecord,
} from './run-record';

/** The CSP of the report: inline styles and `data:` images, nothing else. */
export const REPORT_CSP =
  "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

const markdown = new Marked({ gfm: true, async: false });

export function htmlReport(record: RunRecord): string {
  const s = record.session;
  const facts = executionFacts(record);
  const byCell = new Map<string, ExecutionRecord[]>();
  for (const e of record.executions) byCell.set(e.cellId, [...(byCell.get(e.cellId) ?? []), e]);

  const title = `${record.runbook.title} — session ${s.id}`;
  const parts: string[] = [];
  parts.push(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${attr(REPORT_CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${text(title)}</title>
<style>${STYLE}</style></head><body>`);

  parts.push(`<header><h1>${text(record.runbook.title)}</h1>
<p class="sub">Run record of session <code>${text(s.id)}</code>, exported ${time(record.exportedAt.toISOString())} by ${text(record.exportedBy.name)}</p></header>`);

  parts.push(`<section><h2>Summary</h2><dl class="facts">
${fact('Who', `${text(s.owner.name)} <span class="muted">(${text(s.owner.sub)})</span>`)}
${fact('When', `${time(s.createdAt.toISOString())} to ${s.endedAt ? time(s.endedAt.toISOString()) : 'still open'}`)}
${fact('Why', text(s.reason))}
${fact('Incident', s.incident === null ? '<span class="muted">none</span>' : text(s.incident))}
${fact('Runbook', `<code>${text(record.runbook.id)}</code> version <code>${text(record.runbook.version.slice(0, 12))}</code>${record.runbook.commit ? ` from commit <code>${text(record.runbook.commit.slice(0, 12))}</code>` : ''}`)}
${fact('Environment', text(s.environment))}
${fact('Targets', s.targets.length > 0 ? s.targets.map((t) => `<code>${text(t)}</code>`).join(', ') : '<span class="muted">none</span>')}
${fact('State', `${text(s.state)}${s.endReason ? ` (${text(s.endReason)})` : ''}`)}
${fact('Parameters', `<pre>${text(JSON.stringify(s.parameters, null, 2))}</pre>`)}
</dl></section>`);

  parts.push(verificationSection(record));
  parts.push(timelineSection(record));
  parts.push(credentialsSection(record));

  parts.push('<section><h2>Cells</h2>');
  for (const cell of record.runbook.cells) {
    if (cell.type === 'markdown') {
      parts.push(`<div class="cell markdown">${markdownHtml(cell.source)}</div>`);
      continue;
    }
    if (cell.type === 'raw') {
      parts.push(`<div class="cell raw"><pre>${text(cell.source)}</pre></div>`);
      continue;
    }
    const runs = byCell.get(cell.id) ?? [];
    parts.push(`<div class="cell code" id="cell-${attr(cell.id)}">
<div class="cell-head"><span class="badge ${attr(cell.class ?? 'read-only')}">${text(cell.class ?? 'read-only')}</span> <code>${text(cell.id)}</code>${runs.length === 0 ? ' <span class="muted">not run</span>' : ''}</div>
<pre class="source">${text(cell.class === 'parameters' && runs.length > 0 ? runs[runs.length - 1].code : cell.source)}</pre>
${runs.map((e) => executionBlock(e, facts.get(e.id))).join('\n')}
</div>`);
  }
  parts.push('</section></body></html>\n');
  return parts.join('\n');
}

function verificationSection(record: RunRecord): string {
  const v = record.verification;
  const verdict = v.ok
    ? `<p class="ok">The session's audit chain verifies: ${v.events} events, head at seq ${v.head.seq}.</p>`
    : `<p class="bad">The session's audit chain does NOT verify: ${text(v.brokenAt.reason)} (at seq ${v.brokenAt.seq}).</p>`;
  return `<section><h2>Audit chain</h2>${verdict}
<p>Head hash <code>${text(v.head.hash)}</code>. Check it with <code>GET /v1/audit/sessions/${text(v.chain)}/verify</code>.</p></section>`;
}

function timelineSection(record: RunRecord): string {
  const rows = timelineOf(record).map(
    (t) =>
      `<tr><td>${time(t.at)}</td><td>${text(t.actor)}</td><td><code>${text(t.type)}</code></td><td>${text(t.summary)}</td></tr>`,
  );
  return `<section><h2>Timeline</h2><table class="timeline"><thead><tr><th>Time</th><th>Who</th><th>Event</th><th>What</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table></section>`;
}

function credentialsSection(record: RunRecord): string {
  const rows = credentialsOf(record.events).map(
    (c) =>
      `<tr><td>${text(c.target)}</td><td>${text(c.access)}</td><td>${c.role ? `<code>${text(c.role)}</code>` : ''}</td><td>${c.cellId ? `<code>${text(c.cellId)}</code>` : ''}</td><td>${time(c.issuedAt)}</td><td>${c.revokedAt ? time(c.revokedAt) : '<span class="bad">not revoked</span>'}</td></tr>`,
  );
  if (rows.length === 0)
    return '<section><h2>Credentials</h2><p class="muted">None issued.</p></section>';
  return `<section><h2>Credentials</h2><table><thead><tr><th>Target</th><th>Access</th><th>Role</th><th>Cell</th><th>Issued</th><th>Revoked</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table></section>`;
}

function executionBlock(e: ExecutionRecord, f: ExecutionFacts | undefined): string {
  const approval = f?.approval;
  const approvalLine = approval
    ? approval.breakglass
      ? `<p class="bad">Break-glass run: ${text(approval.reason ?? '')}${reviewsText(approval.reviews)}</p>`
      : `<p class="approval">Approved${reviewsText(approval.reviews)}${approval.reason ? `; asked because: ${text(approval.reason)}` : ''}</p>`
    : '';
  const when = e.startedAt
    ? `${time(e.startedAt.toISOString())}`
    : time(e.requestedAt.toISOString());
  const took =
    e.startedAt && e.finishedAt ? ` in ${e.finishedAt.getTime() - e.startedAt.getTime()} ms` : '';
  return `<div class="execution status-${attr(e.state)}">
<div class="exec-head">#${e.seq} <span class="status">${text(e.state)}</span>${e.error?.reason ? ` (${text(e.error.reason)})` : ''} — run by ${text(e.requestedBy.name)} at ${when}${took}${f?.traceId ? ` <span class="muted">trace ${text(f.traceId)}</span>` : ''}</div>
${approvalLine}
${e.outputs.map(outputHtml).join('\n')}${e.truncated ? '<p class="muted">Output cut at the recording limit.</p>' : ''}
</div>`;
}

function reviewsText(reviews: readonly RecordReview[]): string {
  if (reviews.length === 0) return '';
  return (
    ' — ' +
    reviews
      .map(
        (r) =>
          `${text(r.decision)} by ${text(r.reviewer.name)}${r.comment ? `: “${text(r.comment)}”` : ''}`,
      )
      .join('; ')
  );
}

function outputHtml(o: NotebookOutput): string {
  switch (o.output_type) {
    case 'stream':
      return `<pre class="stream ${attr(o.name)}">${text(stripAnsi(o.text))}</pre>`;
    case 'error':
      return `<pre class="error">${text(stripAnsi(o.traceback.length > 0 ? o.traceback.join('\n') : `${o.ename}: ${o.evalue}`))}</pre>`;
    case 'display_data':
    case 'execute_result':
      return `<div class="display">${bundleHtml(o.data)}</div>`;
  }
}

/** The richest representation of a mime bundle the report can show safely. */
function bundleHtml(data: Record<string, unknown>): string {
  const str = (k: string): string | undefined => {
    const v = data[k];
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join('');
    return undefined;
  };
  for (const mime of ['image/png', 'image/jpeg', 'image/gif'] as const) {
    const b64 = str(mime);
    if (b64 !== undefined && /^[A-Za-z0-9+/=\s]*$/.test(b64)) {
      return `<img alt="${attr(mime)} output" src="data:${mime};base64,${b64.replace(/\s/g, '')}">`;
    }
  }
  const svg = str('image/svg+xml');
  if (svg !== undefined) {
    // As an <img>, SVG is a picture: its scripts and links never run.
    return `<img alt="SVG output" src="data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}">`;
  }
  const html = str('text/html');
  if (html !== undefined) return `<div class="html">${sanitize(html)}</div>`;
  const md = str('text/markdown');
  if (md !== undefined) return `<div class="markdown">${markdownHtml(md)}</div>`;
  if (data['application/json'] !== undefined) {
    return `<pre>${text(JSON.stringify(data['application/json'], null, 2))}</pre>`;
  }
  const plain = str('text/plain');
  if (plain !== undefined) return `<pre>${text(stripAnsi(plain))}</pre>`;
  return `<p class="muted">(output of type ${text(Object.keys(data).join(', '))} not shown)</p>`;
}

function markdownHtml(source: string): string {
  return sanitize(markdown.parse(source) as string);
}

/** Allow-listed HTML: tables, text markup, images from data: URLs; no scripts, no handlers, no styles. */
function sanitize(html: string): string {
  return sanitizeHtml(html, {
    allowedTags: [...sanitizeHtml.defaults.allowedTags, 'img'],
    allowedAttributes: {
      a: ['href', 'title'],
      img: ['src', 'alt', 'title', 'width', 'height'],
      td: ['colspan', 'rowspan'],
      th: ['colspan', 'rowspan', 'scope'],
    },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: { img: ['data'] },
    allowProtocolRelative: false,
  });
}

// Terminal colour and cursor sequences (ECMA-48 CSI and two-byte escapes).
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b[@-Z\\-_]/g;

function stripAnsi(s: string): string {
  return s.replace(ANSI, '');
}

function fact(label: string, valueHtml: string): string {
  return `<dt>${text(label)}</dt><dd>${valueHtml}</dd>`;
}

function time(iso: string): string {
  return `<time datetime="${attr(iso)}">${text(iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</time>`;
}

function text(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const attr = text;

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1f24}
h1{margin:0 0 .2rem}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
.sub,.muted{color:#57606a}code,pre{font:12.5px/1.4 ui-monospace,monospace}
pre{background:#f6f8fa;padding:.5rem .7rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word;margin:.3rem 0}
dl.facts{display:grid;grid-template-columns:9rem 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #d0d7de;padding:.2rem .4rem;text-align:left;vertical-align:top}
.cell{border-left:3px solid #d0d7de;padding:.3rem .8rem;margin:1rem 0}.cell.code{border-color:#0969da}
.badge{display:inline-block;border-radius:1rem;padding:0 .5rem;font-size:12px;background:#ddf4ff}
.badge.mutating{background:#ffebe9;color:#a40e26}.badge.parameters{background:#fff8c5}
.execution{border-top:1px dashed #d0d7de;margin-top:.4rem;padding-top:.3rem}.exec-head{font-size:12.5px}
.status-ok .status{color:#1a7f37}.status-error .status,.status-kernel_died .status{color:#cf222e}.status-interrupted .status{color:#9a6700}
pre.error{background:#ffebe9}pre.stderr{background:#fff8c5}.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.approval{color:#0550ae}img{max-width:100%}
`;
