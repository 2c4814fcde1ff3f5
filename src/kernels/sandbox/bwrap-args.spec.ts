import { describe, expect, it } from 'vitest';
import type { KernelRuntimeDir } from '../connection';
import { bwrapArgs, hostsFile, identityFiles } from './bwrap-args';

const runtime: KernelRuntimeDir = {
  dir: '/tmp/rungate-kernel-x',
  connectionFile: '/tmp/rungate-kernel-x/connection.json',
  workDir: '/tmp/rungate-kernel-x/work',
  socketDir: '/tmp/rungate-kernel-x/sockets',
  forwardDir: '/tmp/rungate-kernel-x/fwd',
  etcDir: '/tmp/rungate-kernel-x/etc',
  owner: undefined,
};

function args(network: 'private' | 'host' = 'private'): string[] {
  return bwrapArgs({
    uid: 999,
    gid: 995,
    network,
    runtime,
    system: [{ path: '/usr' }, { path: '/bin', link: 'usr/bin' }],
    etc: ['/etc/ssl'],
    readOnly: ['/opt/venv'],
    tmpBytes: 1024,
    hostResolvers: ['/etc/hosts', '/etc/resolv.conf'],
  });
}

/** The pairs `flag value` of an argument list. */
function pairs(a: string[], flag: string): string[] {
  return a.flatMap((x, i) => (x === flag ? [a[i + 1]] : []));
}

describe('bwrapArgs', () => {
  it('unshares every namespace, the network unless host mode is chosen', () => {
    const a = args();
    for (const f of ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts'])
      expect(a).toContain(f);
    expect(a).toContain('--unshare-net');
    expect(args('host')).not.toContain('--unshare-net');
    // Names resolve as on the host only when the kernel is on the host's network.
    expect(pairs(args('host'), '--ro-bind')).toContain('/etc/resolv.conf');
    expect(pairs(a, '--ro-bind')).not.toContain('/etc/resolv.conf');
    expect(pairs(a, '--ro-bind')).toContain(`${runtime.etcDir}/hosts`);
    expect(a).toEqual(expect.arrayContaining(['--die-with-parent', '--new-session']));
    expect(a.at(-1)).toBe('--');
  });

  it('keeps the host uid inside, so no user namespace maps the kernel to root', () => {
    const a = args();
    expect(pairs(a, '--uid')).toEqual(['999']);
    expect(pairs(a, '--gid')).toEqual(['995']);
    // --dev would make bwrap nest a namespace whose parent id is 0.
    expect(a).not.toContain('--dev');
  });

  it('shows the system read-only and only the kernel socket directory writable', () => {
    const a = args();
    expect(pairs(a, '--ro-bind')).toEqual(
      expect.arrayContaining(['/usr', '/etc/ssl', '/opt/venv', runtime.dir]),
    );
    expect(pairs(a, '--bind')).toEqual([runtime.socketDir]);
    expect(pairs(a, '--symlink')).toContain('usr/bin');
    expect(pairs(a, '--tmpfs')).toEqual(['/dev/shm', '/tmp', '/home/kernel']);
    expect(pairs(a, '--size')).toEqual(['1024', '1024', '1024']);
  });
});

describe('sandbox /etc files', () => {
  it('name the kernel user and the forwarded hosts only', () => {
    expect(identityFiles(999, 995).passwd).toBe(
      'kernel:x:999:995:rungate kernel:/home/kernel:/usr/sbin/nologin\n',
    );
    expect(hostsFile([{ name: 'db.internal', ip: '127.0.10.2' }])).toContain(
      '127.0.10.2\tdb.internal\n',
    );
  });
});
