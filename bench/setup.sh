#!/usr/bin/env bash
# `npm run bench`'s own set-up, after scripts/bootstrap.sh: the system packages the
# benchmark needs (a PostgreSQL server, bubblewrap, Python's venv), and the peers it
# compares rungate with (Jupyter Kernel Gateway, papermill) in .cache/bench-venv, from
# PyPI (bench/requirements.txt), with pip's cache in .cache/pip. Each step is skipped
# when already done, so a second run takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mkdir -p .cache
say() { printf '[bench-setup] %s\n' "$*" >&2; }

# 1. System packages (Debian), only those missing.
missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The peers' virtual environment, rebuilt when bench/requirements.txt changes.
venv=.cache/bench-venv
stamp="$venv/.requirements.sha256"
python=python3
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then python=/usr/bin/python3; fi
want=$( { sha256sum bench/requirements.txt; command -v "$python"; } | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/jupyter-kernelgateway" ] || [ ! -x "$venv/bin/papermill" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Jupyter Kernel Gateway and papermill into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  PIP_CACHE_DIR="$root/.cache/pip" "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
  echo "$want" > "$stamp"
fi

# 3. A Jupyter data dir whose only kernelspec is rungate's (JUPYTER_PATH=.cache/bench-jupyter):
#    the peers start the very kernel rungate starts, .cache/venv's ipykernel.
mkdir -p .cache/bench-jupyter/kernels
ln -sfn "$root/.cache/kernelspecs/python3" .cache/bench-jupyter/kernels/python3
