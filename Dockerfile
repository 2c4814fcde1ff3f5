# syntax=docker/dockerfile:1
#
# The rungate gateway: Node 20, the kernels' Python environment and bubblewrap for
# the kernel sandbox, running as the unprivileged user `rungate` (uid 10001).
#
#   docker build -t rungate:dev .
#
# The kernel sandbox (bubblewrap) creates user, PID, mount and network namespaces and
# mounts a fresh /proc inside the container. Container engines refuse that by default,
# so the container needs, and needs no more than (no added capability, not privileged):
#   - a seccomp profile that allows unshare/clone with namespace flags (Docker's and
#     containerd's default profiles refuse them to a process without CAP_SYS_ADMIN);
#   - no AppArmor profile that denies mount (docker-default and containerd's default do);
#   - an unmasked /proc (Linux refuses a new procfs in a user namespace while the
#     container's /proc has masked paths);
#   - unprivileged user namespaces on the host (user.max_user_namespaces > 0; Ubuntu
#     23.10+: kernel.apparmor_restrict_unprivileged_userns=0 or a profile for bwrap).
#
#   docker run --rm -p 8080:8080 \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#     --security-opt systempaths=unconfined \
#     -e OIDC_ISSUER=https://idp.example.com -e RUNGATE_PUBLIC_URL=http://localhost:8080 \
#     -e DATABASE_URL_FILE=/run/secrets/database-url -v "$PWD/database-url:/run/secrets/database-url:ro" \
#     rungate:dev
#
# deploy/helm/rungate sets the Kubernetes equivalents (README: "Running several
# replicas / deploying"). As uid 10001 each kernel runs as that same uid mapped into a
# user namespace; the container cannot create cgroups, so per-kernel memory and
# process limits fall back to rlimits and the container's own limits bound the
# gateway and its kernels together (docs/security.md). Run as root (--user 0) and
# kernels run as the system user `rungate-kernel` instead (created below).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: the compiled gateway and the web app ------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY nest-cli.json tsconfig.json ./
COPY src ./src
RUN npx --no-install nest build && npm run build:web

# ---- prod-deps: node_modules without the development packages -----------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error && npm cache clean --force

# ---- base: what the gateway runs on -------------------------------------------------
# python3 for the kernels, bubblewrap for the sandbox, util-linux for prlimit and
# setpriv (the launch chain), tini as PID 1 so that every exited process is reaped,
# git for a catalog that follows a Git repository (RUNGATE_RUNBOOKS_GIT_URL).
FROM ${NODE_IMAGE} AS base
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    bubblewrap ca-certificates git python3 python3-venv tini util-linux \
  && rm -rf /var/lib/apt/lists/*

# ---- kernel-env: the kernels' virtual environment (kernels/requirements.txt) --------
# Built on the runtime's own python3, so the copied environment's interpreter links hold.
FROM base AS kernel-env
COPY kernels/requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/rungate/venv \
  && /opt/rungate/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
    -r /tmp/requirements.txt \
  && mkdir -p /opt/rungate/kernelspecs/python3 \
  && printf '%s\n' \
    '{' \
    '  "argv": ["/opt/rungate/venv/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],' \
    '  "display_name": "Python 3 (rungate)",' \
    '  "language": "python",' \
    '  "interrupt_mode": "signal",' \
    '  "metadata": { "debugger": false }' \
    '}' > /opt/rungate/kernelspecs/python3/kernel.json

# ---- runtime ------------------------------------------------------------------------
FROM base AS runtime
# The gateway's user, and the user kernels run as should the gateway run as root.
RUN groupadd --system --gid 10001 rungate \
  && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin rungate \
  && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    rungate-kernel \
  && mkdir -p /var/lib/rungate && chown rungate:rungate /var/lib/rungate && chmod 0750 /var/lib/rungate

COPY --from=kernel-env /opt/rungate /opt/rungate
WORKDIR /app
# Owned by root and read-only to the gateway: what it runs cannot be changed by it.
COPY package.json ./
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY kernels ./kernels
# Compiled now: at run time the helper's folder is read-only to the kernels.
RUN /opt/rungate/venv/bin/python -m compileall -q /app/kernels/python
COPY policies ./policies
COPY runbooks ./runbooks

ENV NODE_ENV=production \
  RUNGATE_HOST=0.0.0.0 \
  RUNGATE_PORT=8080 \
  RUNGATE_DATA_DIR=/var/lib/rungate \
  RUNGATE_KERNELSPEC_DIRS=/opt/rungate/kernelspecs

USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.RUNGATE_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
