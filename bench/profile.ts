/**
 * A CPU profile of a running gateway, taken through the inspector (the gateway started
 * with NODE_OPTIONS=--inspect=127.0.0.1:<port>; --cpu-prof is not allowed there) over
 * the DevTools protocol, and its self time summed by where the code comes from: a
 * rungate module or an npm package (with the Node.js and native calls it makes),
 * WebAssembly (PGlite), V8 (garbage collection, native code outside JavaScript), Node.js
 * with no such caller, or idle.
 */
import { WebSocketClient } from './ws';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Profiles the process behind `inspectPort` while `fn` runs (sampling every 200 µs). */
export async function profileWhile(
  inspectPort: number,
  fn: () => Promise<void>,
): Promise<CpuProfile> {
  const targets = (await (
    await fetch(`http://127.0.0.1:${inspectPort}/json/list`)
  ).json()) as Array<{
    webSocketDebuggerUrl: string;
  }>;
  const ws = await WebSocketClient.connect(targets[0].webSocketDebuggerUrl);
  let next = 1;
  const waiting = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  ws.onMessage = (text) => {
    const msg = JSON.parse(text) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const w = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (msg.error) w?.reject(new Error(msg.error.message));
    else w?.resolve(msg.result);
  };
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call('Profiler.enable');
    await call('Profiler.setSamplingInterval', { interval: 200 });
    await call('Profiler.start');
    await fn();
    const r = (await call('Profiler.stop')) as { profile: CpuProfile };
    await call('Profiler.disable');
    return r.profile;
  } finally {
    ws.close();
  }
}

/** Where a frame's code comes from; undefined for a native function (no script). */
function origin(frame: ProfileNode['callFrame']): string | undefined {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(garbage collector)') return 'V8: garbage collection';
    if (functionName === '(program)') return 'V8: (program), native code outside JavaScript';
    if (functionName === '(root)') return 'V8: (root)';
    return undefined;
  }
  if (url.startsWith('wasm://')) return 'WebAssembly (PGlite)';
  if (url.startsWith('node:')) return 'Node.js core';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return `npm: ${parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) {
    const parts = url.slice(dist + '/dist/'.length).split('/');
    return `rungate: ${parts.length > 1 ? parts[0] : parts[0].replace(/\.js$/, '')}`;
  }
  return url;
}

const fileOf = (url: string) => url.split('/').slice(-1)[0];

export interface ProfileSummary {
  /** All sampled time, ms. */
  wallMs: number;
  idleMs: number;
  /** Self time by origin, ms, largest first (idle left out). */
  byOrigin: Array<{ origin: string; ms: number }>;
  /** The functions with the most self time, ms (idle left out). */
  topFunctions: Array<{ name: string; ms: number }>;
}

/**
 * Self time by origin and by function. Native functions (V8 built-ins, bindings such
 * as `writev`) and Node.js's own code count for the code that called them: the nearest
 * caller in a rungate module or an npm package. Without one in the stack (work started
 * by the event loop itself, such as flushing a socket), they stay Node.js's.
 */
export function summarizeProfile(profile: CpuProfile, top = 12): ProfileSummary {
  const byNode = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    byNode.set(id, (byNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isLibrary = (o: string | undefined) => o !== undefined && /^(rungate|npm): /.test(o);
  const libraryCaller = (id: number): ProfileNode | undefined => {
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const n = nodes.get(p);
      if (n && isLibrary(origin(n.callFrame))) return n;
    }
    return undefined;
  };
  const label = (f: ProfileNode['callFrame'], o: string | undefined) =>
    `${f.functionName || (o === undefined ? '(native)' : '(anonymous)')} ` +
    `(${o ?? 'native'}${f.url && !f.url.startsWith('wasm://') ? `, ${fileOf(f.url)}` : ''})`;
  const byOrigin = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let wallMs = 0;
  let idleMs = 0;
  for (const node of profile.nodes) {
    const self = byNode.get(node.id) ?? 0;
    if (self === 0) continue;
    wallMs += self;
    const f = node.callFrame;
    const own = origin(f);
    if (own === '(idle)') {
      idleMs += self;
      continue;
    }
    let o = own;
    let name = label(f, own);
    if (own === undefined || own === 'Node.js core') {
      const caller = libraryCaller(node.id);
      if (caller) {
        o = origin(caller.callFrame)!;
        name = `${name}, called from ${label(caller.callFrame, o)}`;
      } else {
        o = 'Node.js core and built-ins, no rungate or npm caller in the stack';
      }
    }
    byOrigin.set(o!, (byOrigin.get(o!) ?? 0) + self);
    byFunction.set(name, (byFunction.get(name) ?? 0) + self);
  }
  const sorted = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ k, v }));
  return {
    wallMs,
    idleMs,
    byOrigin: sorted(byOrigin).map(({ k, v }) => ({ origin: k, ms: v })),
    topFunctions: sorted(byFunction)
      .slice(0, top)
      .map(({ k, v }) => ({ name: k, ms: v })),
  };
}
