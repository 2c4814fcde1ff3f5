#!/usr/bin/env bash
# Makes a fresh clone runnable: npm dependencies, the kernels' Python environment
# and kernelspec, the compiled gateway and the built web app. Each step is skipped when up to date,
# so `npm start` and `npm test` call it every time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mkdir -p .cache
say() { printf '[bootstrap] %s\n' "$*" >&2; }

# 1. npm dependencies (npm runs this script before node_modules may exist).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  # Not `npm ci`: with lock files written without resolved URLs (this workplace's npm
  # default), npm ci rejects the optional per-platform packages it left out itself.
  npm install --no-save --no-audit --no-fund --loglevel=error
fi

# 2. The kernels' Python virtual environment, rebuilt when requirements change. Its
#    interpreter is the system's where there is one: sandboxed kernels run as another
#    user, who may not read an interpreter installed under a person's home.
venv=.cache/venv
stamp="$venv/.requirements.sha256"
python=python3
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then python=/usr/bin/python3; fi
want=$( { sha256sum kernels/requirements.txt; command -v "$python"; } | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "creating the kernel virtual environment in $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  PIP_CACHE_DIR="$root/.cache/pip" "$venv/bin/pip" install --quiet --disable-pip-version-check -r kernels/requirements.txt
  echo "$want" > "$stamp"
fi

# 3. The kernelspec the gateway uses by default (RUNGATE_KERNEL_NAME=python3).
spec=.cache/kernelspecs/python3
mkdir -p "$spec"
cat > "$spec/kernel.json.tmp" <<JSON
{
  "argv": ["$root/$venv/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
  "display_name": "Python 3 (rungate)",
  "language": "python",
  "interrupt_mode": "signal",
  "metadata": { "debugger": false }
}
JSON
mv "$spec/kernel.json.tmp" "$spec/kernel.json"

# 4. The kernel sandbox: bubblewrap, and (when the gateway runs as root) the
#    unprivileged user kernels run as. Installed where this script can; elsewhere the
#    gateway says at start-up what is missing.
if [ "$(id -u)" -eq 0 ]; then
  if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    say "installing bubblewrap for the kernel sandbox"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap; } >/dev/null 2>&1 \
      || say "could not install bubblewrap; install it, or set RUNGATE_KERNEL_PROVISIONER=process"
  fi
  if ! id -u rungate-kernel >/dev/null 2>&1; then
    say "creating the system user rungate-kernel that sandboxed kernels run as"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin rungate-kernel
  fi
  # The kernel user reads the kernels' environment and helpers in this checkout:
  # every folder above it must let others pass through (not list).
  dir="$root"
  while [ "$dir" != / ]; do
    if [ -z "$(find "$dir" -maxdepth 0 -perm -o+x)" ]; then
      say "letting sandboxed kernels pass through $dir (chmod o+x) to reach this checkout"
      chmod o+x "$dir"
    fi
    dir=$(dirname "$dir")
  done
fi

# 5. Compile the gateway when any source is newer than the build (the web app is step 6's).
if [ ! -f dist/main.js ] || [ -n "$(find src nest-cli.json tsconfig.json package-lock.json -newer dist/main.js -not -path 'src/webapp/*' -print -quit 2>/dev/null)" ]; then
  say "building"
  npx --no-install nest build
fi

# 6. Build the web app (Vite) when it is missing or any of its sources is newer. `find -quit`
#    stops at the first newer file, so an up-to-date check costs a directory walk.
if [ ! -f dist/webapp/index.html ] || [ -n "$(find src/webapp package-lock.json -newer dist/webapp/index.html -print -quit 2>/dev/null)" ]; then
  say "building the web app"
  npx --no-install vite build src/webapp --logLevel warn
fi
