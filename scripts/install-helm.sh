#!/usr/bin/env bash
# Builds helm from its Go module into .cache/bin, once: no Debian package serves it,
# and the Go module proxy is reachable where prebuilt release archives are not.
# test/medium/helm-chart.test.ts calls this to lint and render deploy/helm/rungate.
# Reused while .cache/bin/helm.stamp names the wanted version. Prints the helm path.
#
# The link flags are those of helm's own Makefile, so that this binary behaves as a
# released one: its version, and the Kubernetes version that `helm template` and
# `helm lint` assume without a cluster (from the client-go module helm is built with;
# a plain `go install` would assume 1.20). The build compiles a few hundred packages
# (Kubernetes client libraries): it runs under `nice`, two packages at a time, and
# takes 3 to 6 minutes on two shared cores. Only the binary is kept.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=${HELM_VERSION:-v3.21.4}
bin="$root/.cache/bin/helm"
stamp="$root/.cache/bin/helm.stamp"
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  echo "$bin"
  exit 0
fi
PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 || { echo "install-helm: go is required to build helm $version" >&2; exit 1; }
mkdir -p .cache/bin .cache/gomod
export GOMODCACHE="$root/.cache/gomod" GOCACHE="$root/.cache/go-build" GOFLAGS="-modcacherw -buildvcs=false"
echo "building helm $version from the Go module helm.sh/helm/v3 (a few minutes, once)" >&2
start=$(date +%s)
gomod=$(go mod download -json "helm.sh/helm/v3@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
# k8s.io/client-go v0.N.x is Kubernetes 1.N.
k8s_minor=$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod" | head -n1)
[ -n "$k8s_minor" ] || { echo "install-helm: no k8s.io/client-go in $gomod" >&2; exit 1; }
pkg=helm.sh/helm/v3
ldflags="-s -w -X $pkg/internal/version.version=$version"
for p in pkg/chartutil pkg/lint/rules; do
  ldflags="$ldflags -X $pkg/$p.k8sVersionMajor=1 -X $pkg/$p.k8sVersionMinor=$k8s_minor"
done
rm -f "$stamp"
GOBIN="$root/.cache/bin" CGO_ENABLED=0 nice -n 10 go install -p 2 -trimpath -ldflags "$ldflags" \
  "$pkg/cmd/helm@$version" >&2
# Neither the build cache (about 700 MB) nor the module sources (about 400 MB) serve a
# later run: the binary is reused as it is.
rm -rf "$GOCACHE" "$GOMODCACHE"
echo "$version" >"$stamp"
echo "built helm $version (Kubernetes 1.$k8s_minor by default) in $(($(date +%s) - start)) s" >&2
echo "$bin"
