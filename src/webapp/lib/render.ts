/**
 * Turning text into markup, each with a maintained library: marked for markdown,
 * highlight.js for code, ansi_up for terminal colours, and DOMPurify over anything
 * that becomes HTML in the app's own document.
 */
import { AnsiUp } from 'ansi_up';
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import sql from 'highlight.js/lib/languages/sql';
import { Marked } from 'marked';

// Only the languages runbooks use: the full highlight.js bundle is ten times larger.
hljs.registerLanguage('python', python);
hljs.registerLanguage('sql', sql);
hljs.registerLanguage('bash', bash);
hljs.registerLanguage('json', json);

const marked = new Marked({ gfm: true, breaks: false, async: false });

// Links in rendered markdown leave the app in a new tab, without handing it a window.opener.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

/** Markdown (a runbook's prose, or a kernel's text/markdown) as sanitized HTML. */
export function markdownToHtml(source: string): string {
  return DOMPurify.sanitize(marked.parse(source) as string, {
    // No forms, frames or styles from markdown: text, links, images, tables.
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'iframe', 'object', 'embed'],
  });
}

/** Code as highlighted HTML (highlight.js escapes the source). */
export function highlightToHtml(code: string, language = 'python'): string {
  const lang = hljs.getLanguage(language) ? language : 'python';
  return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
}

const ansiUp = new AnsiUp();
// Colours as inline styles (the CSP allows inline styles, not inline scripts); links
// that a program prints are text, not anchors.
ansiUp.use_classes = false;
ansiUp.url_allowlist = {};

/** Terminal text (stream output, tracebacks) as HTML with its colours. */
export function ansiToHtml(text: string): string {
  // ansi_up escapes the text itself; DOMPurify is the second lock on the same door.
  return DOMPurify.sanitize(ansiUp.ansi_to_html(text), { ALLOWED_TAGS: ['span', 'b', 'i', 'u'] });
}

/** A language for a code cell from the kernel name and the cell's first line (`%%sql`). */
export function languageOf(source: string): string {
  const first = source.trimStart().split('\n', 1)[0] ?? '';
  if (/^%%(sql|bigquery)\b/.test(first)) return 'sql';
  if (/^%%(bash|sh|script)\b/.test(first)) return 'bash';
  return 'python';
}
