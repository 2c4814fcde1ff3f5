import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..', '..');
const CHART = join(ROOT, 'deploy', 'helm', 'rungate');
/** Building helm from its Go module takes minutes on a fresh machine (scripts/install-helm.sh). */
const INSTALL_DEADLINE_MS = 20 * 60_000;

/** The variables the gateway reads its secrets from, and the chart's key for each. */
const SECRETS = {
  databaseUrl: 'DATABASE_URL',
  oidcClientSecret: 'OIDC_CLIENT_SECRET',
  oidcWebClientSecret: 'OIDC_WEB_CLIENT_SECRET',
  kafkaSaslPassword: 'KAFKA_SASL_PASSWORD',
  approvalWebhookSecret: 'RUNGATE_APPROVAL_WEBHOOK_SECRET',
  cursorSecret: 'RUNGATE_CURSOR_SECRET',
  replicaSecret: 'RUNGATE_REPLICA_SECRET',
} as const;

interface Manifest {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: unknown }>;
  volumeMounts?: Mount[];
  securityContext?: Record<string, unknown>;
  livenessProbe?: { httpGet?: { path: string; port: string } };
  readinessProbe?: { httpGet?: { path: string; port: string } };
  startupProbe?: { httpGet?: { path: string; port: string } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface Volume {
  name: string;
  secret?: { secretName: string; items?: Array<{ key: string; path: string }> };
  configMap?: { name: string };
  emptyDir?: Record<string, unknown>;
}
interface PodSpec {
  hostUsers?: boolean;
  securityContext?: Record<string, unknown> & { seccompProfile?: { type: string } };
  initContainers?: Container[];
  containers: Container[];
  volumes: Volume[];
}

let helm: string;
let work: string;

/** `helm template` of the chart with these values files and flags, as parsed manifests. */
async function render(...args: string[]): Promise<Manifest[]> {
  const { stdout } = await run(helm, ['template', 'rg', CHART, ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

function only(manifests: Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter(
    (m) => m.kind === kind && (name === undefined || m.metadata.name === name),
  );
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0];
}

function podOf(manifests: Manifest[]): PodSpec {
  const deployment = only(manifests, 'Deployment');
  return (deployment.spec as { template: { spec: PodSpec } }).template.spec;
}

function gateway(pod: PodSpec): Container {
  const c = pod.containers.find((x) => x.name === 'rungate');
  expect(c).toBeDefined();
  return c as Container;
}

function envOf(c: Container): Map<string, EnvVar> {
  return new Map((c.env ?? []).map((e) => [e.name, e]));
}

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
}

/** Values that turn on every optional part: secrets, policies, runbooks, targets, ServiceMonitor. */
async function fullValues(): Promise<{ file: string; runbooks: Record<string, string> }> {
  const policies: Record<string, string> = {};
  for (const name of ['model.conf', 'policy.csv', 'approvals.csv']) {
    policies[name] = await readFile(join(ROOT, 'policies', name), 'utf8');
  }
  const runbooks: Record<string, string> = {};
  for (const path of await filesUnder(join(ROOT, 'runbooks'))) {
    if (path.endsWith('.ipynb'))
      runbooks[path] = await readFile(join(ROOT, 'runbooks', path), 'utf8');
  }
  const secrets = Object.fromEntries(
    Object.keys(SECRETS).map((key) => [
      key,
      { secretName: `rg-${key.toLowerCase()}`, key: 'value' },
    ]),
  );
  const values = {
    replicaCount: 3,
    config: {
      RUNGATE_PUBLIC_URL: 'https://rungate.test.example',
      OIDC_ISSUER: 'https://idp.test.example',
      KAFKA_BROKERS: 'kafka-0:9092,kafka-1:9092',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'rungate',
      RUNGATE_APPROVAL_WEBHOOK_URL: 'https://hooks.test.example/rungate',
      RUNGATE_MAX_SESSIONS: 16,
    },
    secrets,
    policies: { files: policies },
    runbooks: { files: runbooks },
    targets: {
      file: await readFile(join(ROOT, 'targets.example.yaml'), 'utf8'),
      secretMounts: [{ secretName: 'billing-api', mountPath: '/run/secrets/billing-api' }],
    },
    serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
  };
  const file = join(work, 'full-values.yaml');
  await writeFile(file, stringify(values));
  return { file, runbooks };
}

beforeAll(async () => {
  // Builds helm from its Go module when .cache/bin has none (a fresh CI machine).
  const { stdout } = await run('bash', [join(ROOT, 'scripts', 'install-helm.sh')], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  helm = stdout.trim();
  work = await mkdtemp(join(tmpdir(), 'rungate-helm-'));
}, INSTALL_DEADLINE_MS);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('Helm chart deploy/helm/rungate', () => {
  it('lints with the default values and with every optional part on', async () => {
    const { file } = await fullValues();
    const plain = await run(helm, ['lint', '--strict', CHART]);
    expect(plain.stdout).toContain('0 chart(s) failed');
    const full = await run(helm, ['lint', '--strict', CHART, '-f', file]);
    expect(full.stdout).toContain('0 chart(s) failed');
  });

  describe('default values', () => {
    let manifests: Manifest[];
    beforeAll(async () => {
      manifests = await render();
    });

    it('renders a Deployment, Service, ConfigMap, ServiceAccount and PodDisruptionBudget only', () => {
      expect(manifests.map((m) => m.kind).sort()).toEqual([
        'ConfigMap',
        'Deployment',
        'PodDisruptionBudget',
        'Service',
        'ServiceAccount',
      ]);
      const service = only(manifests, 'Service');
      expect(service.spec).toMatchObject({
        ports: [{ name: 'http', port: 8080, targetPort: 'http' }],
      });
      const pdb = only(manifests, 'PodDisruptionBudget');
      expect(pdb.spec).toMatchObject({ maxUnavailable: 1 });
    });

    it('probes /healthz for liveness and start-up and /readyz for readiness', () => {
      const c = gateway(podOf(manifests));
      expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(c.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    });

    it('runs as a non-root user with a read-only root and no capabilities', () => {
      const pod = podOf(manifests);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
      const c = gateway(pod);
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.securityContext).not.toHaveProperty('privileged');
      expect(c.securityContext).not.toHaveProperty('capabilities.add');
      // Writable places: /tmp (kernel runtime directories) and the data directory.
      const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath).sort();
      expect(mounts).toEqual(['/tmp', '/var/lib/rungate']);
    });

    it('gives the kernel sandbox a user namespace, an unmasked /proc and no seccomp filter', () => {
      const pod = podOf(manifests);
      expect(pod.hostUsers).toBe(false);
      expect(pod.securityContext?.seccompProfile).toEqual({ type: 'Unconfined' });
      const c = gateway(pod);
      expect(c.securityContext).toMatchObject({
        procMount: 'Unmasked',
        appArmorProfile: { type: 'Unconfined' },
      });
    });

    it('sets resource requests and a memory limit, and production mode on all interfaces', () => {
      const c = gateway(podOf(manifests));
      expect(c.resources?.requests).toMatchObject({
        cpu: expect.any(String),
        memory: expect.any(String),
      });
      expect(c.resources?.limits).toHaveProperty('memory');
      const env = envOf(c);
      expect(env.get('NODE_ENV')?.value).toBe('production');
      expect(env.get('RUNGATE_HOST')?.value).toBe('0.0.0.0');
      const config = only(manifests, 'ConfigMap');
      expect(config.data).toMatchObject({
        RUNGATE_PUBLIC_URL: expect.stringMatching(/^https:\/\//),
        OIDC_ISSUER: expect.stringMatching(/^https:\/\//),
      });
      expect(c.envFrom).toEqual([{ configMapRef: { name: config.metadata.name } }]);
    });
  });

  describe('every optional part on', () => {
    let manifests: Manifest[];
    let runbooks: Record<string, string>;
    beforeAll(async () => {
      const full = await fullValues();
      runbooks = full.runbooks;
      manifests = await render('-f', full.file);
    });

    it('renders ConfigMaps for policies, runbooks and targets, and a ServiceMonitor', () => {
      expect(manifests.map((m) => m.kind).sort()).toEqual([
        'ConfigMap',
        'ConfigMap',
        'ConfigMap',
        'ConfigMap',
        'Deployment',
        'PodDisruptionBudget',
        'Service',
        'ServiceAccount',
        'ServiceMonitor',
      ]);
      const monitor = only(manifests, 'ServiceMonitor');
      expect(monitor.spec).toMatchObject({ endpoints: [{ port: 'http', path: '/metrics' }] });
      const policies = only(manifests, 'ConfigMap', 'rg-rungate-policies');
      expect(Object.keys(policies.data ?? {}).sort()).toEqual([
        'approvals.csv',
        'model.conf',
        'policy.csv',
      ]);
    });

    it('runs several replicas with a rolling update, each advertising its pod IP', () => {
      const deployment = only(manifests, 'Deployment');
      expect(deployment.spec).toMatchObject({
        replicas: 3,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      });
      const env = envOf(gateway(podOf(manifests)));
      expect(env.get('POD_IP')).toEqual({
        name: 'POD_IP',
        valueFrom: { fieldRef: { fieldPath: 'status.podIP' } },
      });
      expect(env.get('RUNGATE_ADVERTISE_URL')?.value).toBe('http://$(POD_IP):8080');
    });

    it('mounts each secret read-only as a file and names it by <NAME>_FILE', () => {
      const pod = podOf(manifests);
      const c = gateway(pod);
      const env = envOf(c);
      for (const [key, variable] of Object.entries(SECRETS)) {
        const secretName = `rg-${key.toLowerCase()}`;
        const volume = pod.volumes.find((v) => v.secret?.secretName === secretName);
        expect(volume, secretName).toBeDefined();
        const mount = (c.volumeMounts ?? []).find((m) => m.name === volume?.name);
        expect(mount?.readOnly, variable).toBe(true);
        expect(env.get(`${variable}_FILE`)?.value).toBe(`${mount?.mountPath}/value`);
        expect(volume?.secret?.items).toEqual([{ key: 'value', path: 'value' }]);
        // Never the value itself, in the environment or by reference.
        expect(env.has(variable), variable).toBe(false);
      }
      const target = pod.volumes.find((v) => v.secret?.secretName === 'billing-api');
      expect(c.volumeMounts).toContainEqual({
        name: target?.name,
        mountPath: '/run/secrets/billing-api',
        readOnly: true,
      });
    });

    it('puts no secret in a manifest: no Secret object, no secret in env or ConfigMap', () => {
      expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([]);
      const c = gateway(podOf(manifests));
      // Only the pod's own IP comes from elsewhere (the address replicas reach it at).
      for (const e of c.env ?? []) {
        if (e.name === 'POD_IP')
          expect(e.valueFrom).toEqual({ fieldRef: { fieldPath: 'status.podIP' } });
        else expect(e.valueFrom, e.name).toBeUndefined();
      }
      expect(c.envFrom?.some((f) => f.secretRef !== undefined)).toBe(false);
      const config = only(manifests, 'ConfigMap', 'rg-rungate');
      for (const name of Object.keys(config.data ?? {})) {
        expect(name).not.toMatch(/SECRET|PASSWORD|TOKEN|DATABASE_URL/);
      }
    });

    it('copies the runbooks ConfigMap into the catalog folder as regular files', () => {
      const pod = podOf(manifests);
      const cm = only(manifests, 'ConfigMap', 'rg-rungate-runbooks');
      // Keys name paths with "/" written "__"; the init container restores the folders.
      const restored = Object.fromEntries(
        Object.entries(cm.data ?? {}).map(([k, v]) => [k.replaceAll('__', '/'), v]),
      );
      expect(restored).toEqual(runbooks);
      expect(Object.keys(runbooks)).toContain('shop/stuck-jobs.ipynb');
      const init = pod.initContainers?.find((x) => x.name === 'runbooks');
      expect(init?.image).toBe(gateway(pod).image);
      const env = envOf(gateway(pod));
      expect(env.get('RUNGATE_RUNBOOKS_DIR')?.value).toBe('/etc/rungate/runbooks');
      expect(env.get('RUNGATE_POLICY_DIR')?.value).toBe('/etc/rungate/policies');
      expect(env.get('RUNGATE_TARGETS_FILE')?.value).toBe('/etc/rungate/targets/targets.yaml');
    });

    it('rolls the pods when the runbooks change', async () => {
      const deployment = only(manifests, 'Deployment');
      const before = (deployment.spec as { template: Manifest }).template.metadata.annotations;
      const changed = await render(
        '-f',
        join(work, 'full-values.yaml'),
        '--set-string',
        'runbooks.files.extra\\.ipynb={}',
      );
      const after = (only(changed, 'Deployment').spec as { template: Manifest }).template.metadata
        .annotations;
      expect(after?.['checksum/runbooks']).not.toBe(before?.['checksum/runbooks']);
      expect(after?.['checksum/config']).toBe(before?.['checksum/config']);
    });
  });

  it('refuses a secret given in config', async () => {
    for (const name of ['DATABASE_URL', 'KAFKA_SASL_PASSWORD_FILE', 'BILLING_API_RO_TOKEN']) {
      const refused = render('--set', `config.${name}=postgresql://u:p@db/rungate`);
      await expect(refused, name).rejects.toThrow(/secrets are not set in `config`/);
    }
  });

  it('refuses several replicas without a shared database', async () => {
    await expect(render('--set', 'replicaCount=2')).rejects.toThrow(
      /replicaCount above 1 needs a shared PostgreSQL/,
    );
  });

  it('refuses policies without the model or the policy', async () => {
    const refused = render(
      '--set-file',
      `policies.files.policy\\.csv=${join(ROOT, 'policies', 'policy.csv')}`,
    );
    await expect(refused).rejects.toThrow(/policies.files needs model.conf and policy.csv/);
  });

  it("renders the README's helm install command", async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const command = /^helm install rungate [^]*?(?=^```)/m.exec(readme)?.[0];
    expect(command).toBeDefined();
    // The same arguments, rendered instead of installed.
    const script = (command as string).replace(/^helm install/, '"$HELM" template');
    const { stdout } = await run('bash', ['-euc', script], {
      cwd: ROOT,
      env: { ...process.env, HELM: helm },
      maxBuffer: 64 * 1024 * 1024,
    });
    const manifests = parseAllDocuments(stdout).map((d) => d.toJS() as Manifest);
    const env = envOf(gateway(podOf(manifests)));
    expect(env.get('DATABASE_URL_FILE')?.value).toMatch(/^\/var\/run\/secrets\/rungate\//);
    expect(manifests.filter((m) => m.kind === 'ConfigMap')).toHaveLength(3);
  });

  it('with the sandbox off: unsandboxed kernels said so in config, default seccomp profile', async () => {
    const manifests = await render('--set', 'sandbox.enabled=false');
    const pod = podOf(manifests);
    expect(pod.hostUsers).toBeUndefined();
    expect(pod.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(gateway(pod).securityContext).not.toHaveProperty('procMount');
    expect(only(manifests, 'ConfigMap').data).toMatchObject({
      RUNGATE_KERNEL_PROVISIONER: 'process',
      RUNGATE_ACCEPT_UNSANDBOXED_KERNELS: 'true',
    });
  });
});
