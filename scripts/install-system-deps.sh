#!/usr/bin/env bash
# System packages the gateway's tests need, from Debian: a PostgreSQL server,
# Python's venv module, Java with Maven for the Kafka broker, bubblewrap for
# the kernel sandbox, git for the catalog, and Chromium for the web app's browser tests. Installs only
# what is missing, so it is cheap on a machine that has them.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 || missing+=(postgresql)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
# The browser the web app's end-to-end tests drive (playwright-core brings no browser).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# git, which the catalog uses to follow a Git repository (RUNGATE_RUNBOOKS_GIT_URL).
command -v git >/dev/null 2>&1 || missing+=(git)
# promtool, which checks and unit-tests the alert rules in deploy/prometheus/.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[system] installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
