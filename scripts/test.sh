#!/usr/bin/env bash
# Runs every test: Rust unit, adapter and end-to-end suites, the OpenAPI fuzzing of the app API
# (schemathesis), the reference web app in headless Chromium (Playwright), the plaid-python contract suite
# against the Plaid emulator, and the infrastructure checks (cfn-lint, checkov, provisioning from the template).
# Installs what it needs (scripts/bootstrap.sh) and starts the shared moto server itself.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.venv/bin:$PATH"

scripts/bootstrap.sh || { echo "bootstrap failed" >&2; exit 1; }

echo "== build"
cargo build --workspace --all-targets || exit 1
# cargo-lambda runs each function with `cargo run --bin NAME`; build them the same way so it finds them fresh.
for f in functions/*/; do
  cargo build --bin "$(basename "$f")" || exit 1
done

logs="$root/target/test-logs"
mkdir -p "$logs"

# One moto server for every test binary (each test makes its own table, key and secret).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.venv/bin/moto_server -H 127.0.0.1 -p "$port" > "$logs/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
export WEFT_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
export PLAID_EMULATOR_BIN="$root/target/debug/plaid-emulator"

failed=()

echo "== rust tests"
cargo test --workspace --no-fail-fast || failed+=("rust")

echo "== app API fuzzing (schemathesis against the OpenAPI document, on a local stack of its own)"
tests/api/fuzz.sh || failed+=("api-fuzz")

echo "== browser tests (the reference web app in headless Chromium, on a local stack of its own)"
tests/browser/run.sh || failed+=("browser")

echo "== plaid-python contract suite"
tests/contract/run.sh || failed+=("contract")

echo "== infrastructure"
infra/lint.sh || failed+=("infra-lint")
.venv/bin/python -m pytest -q infra/local || failed+=("infra-provision")

if [ ${#failed[@]} -ne 0 ]; then
  echo "FAILED suites: ${failed[*]}"
  exit 1
fi
echo "all suites passed"
