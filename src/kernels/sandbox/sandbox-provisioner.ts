/**
 * The default provisioner: each kernel in a bubblewrap sandbox, as an unprivileged
 * user, within its own resource limits. See docs/security.md (kernel isolation).
 *
 * The launch command is a chain of programs that each change one thing and exec the
 * next, so that the pid the gateway waits on is bwrap's:
 *   sh (enters the kernel's cgroups; only when there are any)
 *   → setpriv (drops to the kernel user; only when the gateway is root)
 *   → prlimit (open files, file size, and the limits no cgroup enforces)
 *   → bwrap (namespaces and file system view) → the kernelspec's argv.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { writeFile, chmod } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { prepareConnection, type KernelOwner, type KernelRuntimeDir } from '../connection';
import { KernelProcess, type ProcessExit } from '../kernel-process';
import type {
  KernelLaunch,
  KernelLimit,
  KernelLimits,
  KernelNetworkMode,
  KernelProvisioner,
  ProvisionedProcess,
} from '../provisioner';
import {
  bwrapArgs,
  ETC_PATHS,
  hostsFile,
  identityFiles,
  SANDBOX_HOME,
  SYSTEM_PATHS,
} from './bwrap-args';
import { detectCgroups, KernelCgroup, readOr, sweepCgroups, type CgroupLayout } from './cgroups';

/** Enters each cgroup.procs file named before `--`, then runs the rest. */
const ENTER_CGROUPS =
  'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
const SIGXCPU_EXIT = 128 + 24;

/** Settings of the sandbox. */
export interface SandboxSettings {
  readonly network: KernelNetworkMode;
  /** The host user kernels run as when the gateway runs as root. */
  readonly user: string;
  readonly limits: KernelLimits;
  /** Host paths kernels see read-only besides the system (their Python environment, helpers). */
  readonly readOnlyPaths: readonly string[];
}

/** Why the sandbox cannot be used here, with what to do about it. */
export class SandboxUnavailableError extends Error {}

/** The programs of the launch chain, found on PATH. */
interface Tools {
  readonly sh: string;
  readonly bwrap: string;
  readonly prlimit: string;
  readonly setpriv: string;
}

export class SandboxProvisioner implements KernelProvisioner {
  readonly name = 'sandbox';
  readonly interruptByMessage = true;
  readonly network: KernelNetworkMode;

  private constructor(
    private readonly settings: SandboxSettings,
    private readonly tools: Tools,
    /** Set when the gateway runs as root: kernels run as this user instead. */
    private readonly owner: KernelOwner | undefined,
    private readonly cgroups: CgroupLayout | undefined,
  ) {
    this.network = settings.network;
  }

  /**
   * Checks that kernels can be sandboxed here (bwrap installed, user namespaces
   * allowed, the kernel user present when running as root) by starting a trivial
   * sandbox; throws {@link SandboxUnavailableError} saying how to fix it otherwise.
   */
  static create(
    settings: SandboxSettings,
    env: Readonly<Record<string, string | undefined>>,
  ): SandboxProvisioner {
    const path = env.PATH ?? '/usr/bin:/bin';
    const bwrap = which('bwrap', path);
    if (bwrap === undefined) {
      throw new SandboxUnavailableError(
        'kernels run in a bubblewrap sandbox, and bwrap is not installed: install it ' +
          '(Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), or set ' +
          'RUNGATE_KERNEL_PROVISIONER=process to run kernels unsandboxed (development only)',
      );
    }
    const tools: Tools = {
      bwrap,
      sh: which('sh', path) ?? '/bin/sh',
      prlimit: requireTool('prlimit', path),
      setpriv: requireTool('setpriv', path),
    };
    const root = process.getuid?.() === 0;
    const owner = root ? kernelUser(settings.user) : undefined;
    const provisioner = new SandboxProvisioner(settings, tools, owner, detectCgroups());
    provisioner.probe();
    if (provisioner.cgroups) sweepCgroups(provisioner.cgroups);
    return provisioner;
  }

  /** What a person reading the start-up log should know about the isolation in force. */
  describe(): string {
    const who = this.owner
      ? `as user ${this.settings.user} (uid ${this.owner.uid})`
      : `as the gateway's user (uid ${process.getuid?.()}) mapped into a user namespace`;
    const limits = this.cgroups
      ? `cgroup v${this.cgroups.version} limits`
      : 'rlimits (no cgroup can be created here)';
    return `kernels run sandboxed by bubblewrap ${who}, network ${this.network}, ${limits}`;
  }

  /** The host ids kernels run as: the kernel user's, or the gateway's own. */
  private get kernelIds(): KernelOwner {
    return this.owner ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  }

  prepare(kernelName: string): ReturnType<KernelProvisioner['prepare']> {
    // Kernels in their own network namespace are reachable through Unix sockets only.
    return prepareConnection(kernelName, 'ipc', this.owner);
  }

  async launch(launch: KernelLaunch): Promise<ProvisionedProcess> {
    const { runtime } = launch;
    const { uid, gid } = this.kernelIds;
    const ids = identityFiles(uid, gid);
    await writeEtc(runtime, 'passwd', ids.passwd);
    await writeEtc(runtime, 'group', ids.group);
    await writeEtc(runtime, 'hosts', hostsFile([]));

    const limits = this.settings.limits;
    const cgroup = this.cgroups
      ? KernelCgroup.create(this.cgroups, launch.kernelId, limits)
      : undefined;
    const memoryByCgroup = this.cgroups?.memory !== undefined;
    const pidsByCgroup = this.cgroups?.pids !== undefined;
    const rlimits = [
      '--core=0',
      ...(limits.openFiles > 0 ? [`--nofile=${limits.openFiles}`] : []),
      ...(limits.tmpBytes > 0 ? [`--fsize=${limits.tmpBytes}`] : []),
      ...(!memoryByCgroup && limits.memoryBytes > 0 ? [`--as=${limits.memoryBytes}`] : []),
      ...(!pidsByCgroup && limits.pids > 0 ? [`--nproc=${limits.pids}`] : []),
    ];
    const sandbox = bwrapArgs({
      uid,
      gid,
      network: this.network,
      runtime,
      system: hostPaths(SYSTEM_PATHS),
      etc: ETC_PATHS.filter((p) => existsSync(p)),
      readOnly: this.readOnlyPaths(launch),
      tmpBytes: limits.tmpBytes > 0 ? limits.tmpBytes : 1024 ** 3,
      hostResolvers: ['/etc/hosts', '/etc/resolv.conf'].filter((p) => existsSync(p)),
    });
    let argv = [this.tools.prlimit, ...rlimits, '--', this.tools.bwrap, ...sandbox, ...launch.argv];
    if (this.owner) {
      argv = [
        this.tools.setpriv,
        `--reuid=${this.owner.uid}`,
        `--regid=${this.owner.gid}`,
        '--clear-groups',
        '--',
        ...argv,
      ];
    }
    if (cgroup)
      argv = [
        this.tools.sh,
        '-c',
        ENTER_CGROUPS,
        'rungate-sandbox',
        ...cgroup.procsFiles(),
        '--',
        ...argv,
      ];

    const env: Record<string, string> = { ...launch.env, HOME: SANDBOX_HOME, TMPDIR: '/tmp' };
    // ipykernel would take bwrap's init (pid 1) for a dead parent: bwrap's
    // --die-with-parent ties the kernel to the gateway instead.
    delete env.JPY_PARENT_PID;
    // The pid is known once spawned; the CPU fallback walks the tree below it.
    const spawned: { process?: KernelProcess } = {};
    const proc = (): number => spawned.process?.pid ?? 0;
    spawned.process = KernelProcess.spawn(argv, env, runtime.dir, launch.log, {
      signalsReachKernel: false,
      limitReached: (exit) => limitOf(exit, cgroup),
      cpuSeconds: () => cgroup?.cpuSeconds() ?? treeCpuSeconds(proc()),
      release: async () => {
        await cgroup?.remove();
      },
    });
    return spawned.process;
  }

  async started(runtime: KernelRuntimeDir): Promise<void> {
    // The kernel has bound its sockets: it may write nowhere on the host any more.
    if (runtime.owner) await chmod(runtime.socketDir, 0o750);
  }

  /** The kernel's interpreter environment (from the spec's argv) and the configured helper paths. */
  private readOnlyPaths(launch: KernelLaunch): string[] {
    const paths = new Set<string>(this.settings.readOnlyPaths);
    const program = launch.argv[0];
    // <venv>/bin/python: the whole environment, so its packages import.
    if (program && isAbsolute(program) && !SYSTEM_PATHS.some((p) => program.startsWith(`${p}/`)))
      paths.add(dirname(dirname(program)));
    for (const entry of (launch.env.PYTHONPATH ?? '').split(delimiter))
      if (isAbsolute(entry)) paths.add(entry);
    return [...paths].filter((p) => existsSync(p)).sort();
  }

  /** Starts a trivial sandbox the way kernels are started, so problems show at start-up. */
  private probe(): void {
    const { uid, gid } = this.kernelIds;
    const args = [
      '--unshare-user',
      '--unshare-pid',
      ...(this.network === 'private' ? ['--unshare-net'] : []),
      '--uid',
      String(uid),
      '--gid',
      String(gid),
      '--ro-bind',
      '/',
      '/',
      '--',
      this.tools.sh,
      '-c',
      // Exit 3 names a path the kernel's user cannot read (reported below).
      'for p; do [ -r "$p" ] && [ -x "$p" ] || { echo "$p" >&2; exit 3; }; done',
      'probe',
      ...this.settings.readOnlyPaths.filter((p) => existsSync(p)),
    ];
    const argv = this.owner
      ? [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', this.tools.bwrap, ...args]
      : args;
    try {
      execFileSync(this.owner ? this.tools.setpriv : this.tools.bwrap, argv, {
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 10_000,
        env: { PATH: '/usr/bin:/bin' },
      });
    } catch (err) {
      const stderr = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim();
      if ((err as { status?: number }).status === 3) {
        throw new SandboxUnavailableError(
          `sandboxed kernels run as uid ${uid}, which cannot read ${stderr}: let that user read ` +
            "the kernels' environment and every folder above it (scripts/bootstrap.sh does this " +
            'for a checkout when run as root), or move the checkout',
        );
      }
      throw new SandboxUnavailableError(
        `bubblewrap cannot create a sandbox here (${stderr}). Unprivileged user namespaces must be ` +
          'allowed (sysctl user.max_user_namespaces > 0; on Debian kernel.unprivileged_userns_clone=1; ' +
          'on Ubuntu 24.04 an AppArmor profile for bwrap), or set RUNGATE_KERNEL_PROVISIONER=process ' +
          'to run kernels unsandboxed (development only)',
      );
    }
  }
}

/** CPU seconds of a process and all its descendants, from /proc (no cgroup to ask). */
export function treeCpuSeconds(pid: number): number | undefined {
  if (pid === 0) return undefined;
  let total = 0;
  let read = 0;
  const stack = [pid];
  for (let visited = 0; stack.length > 0 && visited < 10_000; visited++) {
    const p = stack.pop() as number;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, cutime, cstime (fields 14-17) in clock ticks of 1/100 s.
      total += [11, 12, 13, 14].reduce((sum, k) => sum + Number(f[k]), 0) / 100;
      read++;
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        if (children) stack.push(...children.split(' ').map(Number));
      }
    } catch {
      // gone meanwhile
    }
  }
  return read === 0 ? undefined : total;
}

function limitOf(exit: ProcessExit, cgroup: KernelCgroup | undefined): KernelLimit | undefined {
  const events = cgroup?.events();
  if (events && events.oomKills > 0) return 'memory_limit';
  if (exit.code === SIGXCPU_EXIT || exit.signal === 'SIGXCPU') return 'cpu_time_limit';
  if (events && events.pidsMaxHits > 0) return 'pids_limit';
  return undefined;
}

async function writeEtc(runtime: KernelRuntimeDir, name: string, content: string): Promise<void> {
  // The directory is the gateway's: the kernel cannot have planted anything here.
  await writeFile(join(runtime.etcDir, name), content, { mode: 0o644 });
}

/** Each system path that exists, as a link where it is one (merged /usr). */
function hostPaths(paths: readonly string[]): Array<{ path: string; link?: string }> {
  const out: Array<{ path: string; link?: string }> = [];
  for (const path of paths) {
    try {
      const st = lstatSync(path);
      out.push(st.isSymbolicLink() ? { path, link: readlinkSync(path) } : { path });
    } catch {
      // not on this system
    }
  }
  return out;
}

function which(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function requireTool(name: string, path: string): string {
  const found = which(name, path);
  if (found === undefined) {
    throw new SandboxUnavailableError(
      `the kernel sandbox needs ${name} from util-linux, which is not on PATH: install util-linux`,
    );
  }
  return found;
}

/** uid and gid of a host user, from /etc/passwd. */
function kernelUser(name: string): KernelOwner {
  const line = readOr('/etc/passwd')
    .split('\n')
    .find((l) => l.split(':')[0] === name);
  const fields = line?.split(':');
  if (!fields || fields.length < 4) {
    throw new SandboxUnavailableError(
      `the gateway runs as root, so kernels run as the unprivileged user "${name}", which does not ` +
        `exist: create it (useradd --system --no-create-home --shell /usr/sbin/nologin ${name}; ` +
        'scripts/bootstrap.sh does this), or name another with RUNGATE_SANDBOX_USER',
    );
  }
  const owner = { uid: Number(fields[2]), gid: Number(fields[3]) };
  if (owner.uid === 0 || owner.gid === 0)
    throw new SandboxUnavailableError(
      `RUNGATE_SANDBOX_USER "${name}" is root; kernels never run as root`,
    );
  return owner;
}
