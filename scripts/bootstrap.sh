#!/usr/bin/env bash
# Installs what the local stack and the tests need into project-local virtualenvs (idempotent, quiet when
# everything is already there): .venv (moto, cargo-lambda, plaid-python, pytest, cfn-lint, ...) and
# .venv-checkov (checkov pins an old boto3 that would downgrade moto's, so it lives apart).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

stamp() { sha256sum "$1" | cut -c1-16; }

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  python3 -m venv .venv
fi
want="$(stamp requirements-dev.txt)"
if [ "$(cat .venv/.weft-stamp 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing requirements-dev.txt into .venv" >&2
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > .venv/.weft-stamp
fi

if [ "${WEFT_SKIP_CHECKOV:-0}" != "1" ]; then
  if [ ! -x .venv-checkov/bin/checkov ]; then
    echo "bootstrap: installing checkov into .venv-checkov" >&2
    python3 -m venv .venv-checkov
    .venv-checkov/bin/pip install -q --disable-pip-version-check checkov
  fi
fi
