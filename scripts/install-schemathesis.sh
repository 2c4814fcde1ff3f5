#!/usr/bin/env bash
# Installs schemathesis (test/contract/requirements.txt) into .cache/schemathesis, once:
# test/e2e/contract.test.ts runs it against a started gateway. Reused while the
# requirements and the Python it was built with stay the same. Prints the `st` path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=.cache/schemathesis
stamp="$venv/.requirements.sha256"
python=python3
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then python=/usr/bin/python3; fi
want=$( { sha256sum test/contract/requirements.txt; command -v "$python"; } | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/st" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing schemathesis into $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  PIP_CACHE_DIR="$root/.cache/pip" "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -r test/contract/requirements.txt >&2
  echo "$want" >"$stamp"
fi
echo "$root/$venv/bin/st"
