#!/usr/bin/env bash
# Contract suite: drives the Plaid emulator through plaid-python with strict response checking.
# Usage: PLAID_EMULATOR_BIN=/path/to/plaid-emulator tests/contract/run.sh [pytest args...]
# (default binary: target/debug/plaid-emulator; build it with `cargo build -p plaid-emulator`; this script builds nothing).
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO" || exit 2
PY="$REPO/.venv/bin/python"
if [ ! -x "$PY" ]; then
  echo "run.sh: $PY not found (create the venv: python3 -m venv .venv)" >&2
  exit 2
fi
if ! "$PY" - <<'PYEOF' 2>/dev/null
import importlib.util, sys
need = ["plaid", "pytest", "jwt", "cryptography", "requests"]
sys.exit(0 if all(importlib.util.find_spec(m) for m in need) else 1)
PYEOF
then
  "$PY" -m pip install -q plaid-python pytest pyjwt cryptography requests || exit 2
fi
export PLAID_EMULATOR_BIN="${PLAID_EMULATOR_BIN:-$REPO/target/debug/plaid-emulator}"
"$PY" -m pytest tests/contract -q "$@"
exit $?
