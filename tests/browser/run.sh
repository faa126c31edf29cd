#!/usr/bin/env bash
# Browser tests of the reference web app (webapp/) in Chromium against the local stack.
# Installs what it needs (Debian's chromium when /usr/bin/chromium is missing; npm ci here), builds nothing:
# it needs target/debug/local-stack and the functions built (cargo build --bin local-stack; scripts/test.sh
# builds the functions), and the project's .venv (scripts/bootstrap.sh: moto, cargo-lambda).
# Usage: tests/browser/run.sh [node --test args...]    Screenshots: target/browser-screenshots/
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "browser tests: installing Debian's chromium" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
  else
    sudo apt-get install -y chromium >/dev/null || { sudo apt-get update >/dev/null && sudo apt-get install -y chromium >/dev/null; }
  fi
fi
for bin in local-stack link-token exchange items webhook sync-worker; do
  if [ ! -x "$root/target/debug/$bin" ]; then
    echo "browser tests: $root/target/debug/$bin is missing (cargo build --bin $bin)" >&2
    exit 2
  fi
done
if [ ! -x "$root/.venv/bin/cargo-lambda" ]; then
  echo "browser tests: $root/.venv is missing cargo-lambda (scripts/bootstrap.sh)" >&2
  exit 2
fi

cd "$here"
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
rm -rf "$root/target/browser-screenshots"
export PATH="$root/.venv/bin:$PATH"
exec node --test --test-concurrency=1 --test-reporter=spec "$@" webapp.test.js
