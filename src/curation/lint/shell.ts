import type { Effect } from './lint.types';

/** What one shell command does: `read` or `write` (anything that may change something). */
export interface ShellClass {
  effect: Extract<Effect, 'read' | 'write'>;
  /** `kubectl delete`, `rm`, `curl -X POST`. */
  what: string;
  /** For `psql -c`: the SQL it runs, classified by the caller. */
  sql?: string;
}

/** Commands that only look. Anything else is taken to change something. */
const READ_COMMANDS = new Set([
  'awk',
  'cat',
  'column',
  'cut',
  'date',
  'df',
  'dig',
  'dmesg',
  'du',
  'echo',
  'egrep',
  'env',
  'false',
  'fgrep',
  'file',
  'free',
  'getent',
  'grep',
  'head',
  'host',
  'hostname',
  'id',
  'jq',
  'journalctl',
  'less',
  'ls',
  'lsof',
  'md5sum',
  'more',
  'netstat',
  'nslookup',
  'ping',
  'printenv',
  'printf',
  'ps',
  'pwd',
  'rg',
  'sha256sum',
  'sleep',
  'sort',
  'ss',
  'stat',
  'tail',
  'test',
  'top',
  'tr',
  'traceroute',
  'true',
  'uname',
  'uniq',
  'uptime',
  'wc',
  'which',
  'whoami',
  'yq',
  'openssl',
  'nc',
  'timeout',
  'time',
  'xargs',
  'tee',
]);
/** Prefixes that run the rest of the line as the command. */
/** Wrapper flags that take the next word as their value (`sudo -u USER`, `nice -n 10`). */
const WRAPPER_VALUE_FLAGS = new Set(['-u', '-g', '-C', '-h', '-p', '-U', '-s', '-k', '-n']);
const WRAPPERS = new Set([
  'sudo',
  'env',
  'timeout',
  'nice',
  'nohup',
  'time',
  'xargs',
  'command',
  'exec',
]);

const KUBECTL_READ = new Set([
  'get',
  'describe',
  'logs',
  'top',
  'explain',
  'api-resources',
  'api-versions',
  'version',
  'cluster-info',
  'diff',
  'events',
  'auth',
  'config',
  'wait',
  'completion',
  'plugin',
  'kustomize',
  'port-forward',
  'help',
]);
const KUBECTL_ROLLOUT_READ = new Set(['status', 'history']);
/** kubectl's global flags that take a value as the next word. */
const KUBECTL_VALUE_FLAGS = new Set([
  '-n',
  '--namespace',
  '--context',
  '--cluster',
  '--kubeconfig',
  '--user',
  '-s',
  '--server',
  '--as',
  '--as-group',
  '--token',
  '--request-timeout',
  '-l',
  '--selector',
  '-o',
  '--output',
]);
const HELM_READ = new Set([
  'list',
  'ls',
  'status',
  'get',
  'history',
  'show',
  'inspect',
  'template',
  'search',
  'repo',
  'version',
  'lint',
  'env',
  'help',
  'verify',
  'completion',
  'diff',
]);

function basename(cmd: string): string {
  return cmd.split('/').pop() ?? cmd;
}

/** The first word that is not a flag (nor a global flag's value). */
function verbOf(args: readonly string[]): { verb: string; rest: string[] } {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith('-')) {
      if (!a.includes('=') && KUBECTL_VALUE_FLAGS.has(a)) i++;
      continue;
    }
    return { verb: a, rest: args.slice(i + 1) };
  }
  return { verb: '', rest: [] };
}

/** Classifies one command of a shell line given as argv. */
export function classifyCommand(argv: readonly string[]): ShellClass {
  let args = [...argv];
  // `sudo -u x kubectl ...`, `env A=1 kubectl ...`, `timeout 30 kubectl ...`
  while (args.length > 1 && WRAPPERS.has(basename(args[0]))) {
    args = args.slice(1);
    while (args.length > 1) {
      if (WRAPPER_VALUE_FLAGS.has(args[0])) args = args.slice(2);
      else if (args[0].startsWith('-') || /^\w+=/.test(args[0]) || /^\d+[smh]?$/.test(args[0]))
        args = args.slice(1);
      else break;
    }
  }
  const cmd = basename(args[0] ?? '');
  const rest = args.slice(1);
  if (cmd === 'kubectl' || cmd === 'oc') {
    const { verb, rest: after } = verbOf(rest);
    if (verb === 'rollout') {
      const sub = verbOf(after).verb;
      return {
        effect: KUBECTL_ROLLOUT_READ.has(sub) ? 'read' : 'write',
        what: `${cmd} rollout ${sub}`.trim(),
      };
    }
    if (verb === 'auth' && verbOf(after).verb === 'reconcile')
      return { effect: 'write', what: `${cmd} auth reconcile` };
    if (verb === 'config' && /^(set|unset|use-context|delete|rename)/.test(verbOf(after).verb))
      return { effect: 'read', what: `${cmd} config` }; // the local kubeconfig only
    return { effect: KUBECTL_READ.has(verb) ? 'read' : 'write', what: `${cmd} ${verb}`.trim() };
  }
  if (cmd === 'helm') {
    const { verb } = verbOf(rest);
    return { effect: HELM_READ.has(verb) ? 'read' : 'write', what: `helm ${verb}`.trim() };
  }
  if (cmd === 'curl') {
    const method = rest.findIndex((a) => a === '-X' || a === '--request');
    const m =
      method >= 0
        ? (rest[method + 1] ?? '').toUpperCase()
        : rest.find((a) => /^-X[A-Z]+$/.test(a))?.slice(2);
    const sends = rest.some(
      (a) => /^(-d|--data.*|-F|--form.*|-T|--upload-file|--json)$/.test(a) || /^-d./.test(a),
    );
    const write = m ? !['GET', 'HEAD', 'OPTIONS'].includes(m) : sends;
    return { effect: write ? 'write' : 'read', what: `curl ${m ?? (sends ? 'POST' : 'GET')}` };
  }
  if (cmd === 'wget') {
    const write = rest.some((a) => /^--(post-data|post-file|method|body-data|body-file)/.test(a));
    return { effect: write ? 'write' : 'read', what: write ? 'wget (sends data)' : 'wget' };
  }
  if (cmd === 'psql') {
    const i = rest.findIndex((a) => a === '-c' || a === '--command');
    const sql = i >= 0 ? rest[i + 1] : rest.find((a) => a.startsWith('--command='))?.slice(10);
    if (sql !== undefined) return { effect: 'read', what: 'psql -c', sql };
    return { effect: 'write', what: 'psql (SQL from a file or input)' };
  }
  if (cmd === 'sed' && rest.some((a) => a === '-i' || a.startsWith('-i') || a === '--in-place'))
    return { effect: 'write', what: 'sed -i' };
  if (cmd === 'find' && rest.some((a) => a === '-delete' || a === '-exec' || a === '-execdir'))
    return { effect: 'write', what: 'find -delete/-exec' };
  if (cmd === 'tee' && rest.some((a) => !a.startsWith('-')))
    return { effect: 'write', what: 'tee FILE' };
  if (READ_COMMANDS.has(cmd)) return { effect: 'read', what: cmd };
  return { effect: 'write', what: cmd || 'a command' };
}
