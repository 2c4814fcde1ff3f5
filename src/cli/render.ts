/** A notebook output as the gateway sends it (nbformat 4). */
export type NotebookOutput =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { output_type: 'display_data'; data: Record<string, unknown> }
  | { output_type: 'execute_result'; data: Record<string, unknown> }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

// eslint-disable-next-line no-control-regex -- ANSI escape sequences start with ESC (0x1b)
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/**
 * What a terminal can show of an output: text as it is, the plain-text form of rich
 * outputs, and a pointer to the web app for pictures and HTML (which a terminal would
 * only show as noise). ANSI colours of tracebacks are kept only for a colour terminal.
 */
export function renderOutput(output: NotebookOutput, color: boolean, sessionPage: string): string {
  const text = (() => {
    switch (output.output_type) {
      case 'stream':
        return output.text;
      case 'error':
        return `${output.traceback.length > 0 ? output.traceback.join('\n') : `${output.ename}: ${output.evalue}`}\n`;
      case 'display_data':
      case 'execute_result':
        return `${renderData(output.data, sessionPage)}\n`;
    }
  })();
  return color ? text : text.replace(ANSI, '');
}

function renderData(data: Record<string, unknown>, sessionPage: string): string {
  const image = ['image/png', 'image/jpeg', 'image/svg+xml'].find((m) => m in data);
  const plain = typeof data['text/plain'] === 'string' ? data['text/plain'] : undefined;
  if (image !== undefined) {
    return `[${image} picture: see ${sessionPage}]`;
  }
  if ('application/json' in data) return JSON.stringify(data['application/json'], null, 2);
  if (plain !== undefined) return plain;
  if ('text/markdown' in data && typeof data['text/markdown'] === 'string') {
    return data['text/markdown'];
  }
  if ('text/html' in data) return `[HTML output: see ${sessionPage}]`;
  return `[${Object.keys(data).join(', ')} output]`;
}
