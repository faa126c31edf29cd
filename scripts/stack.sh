#!/usr/bin/env bash
# Starts the whole local stack (moto for AWS, the Plaid emulator, a dev OIDC issuer, the functions under
# cargo-lambda), provisions the table, KMS key, secret and queue from infra/template.yaml, runs a demo of
# the flow (link token -> simulated Link -> exchange -> webhook-driven sync -> items listed), and keeps
# serving until Ctrl-C. Extra arguments go to the local-stack binary (--no-demo, --exit-after-demo).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
WEFT_SKIP_CHECKOV=1 scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"
echo "building (the first build compiles the AWS SDK: a few minutes)..."
cargo build -q --bin local-stack
for f in functions/*/; do cargo build -q --bin "$(basename "$f")"; done
exec target/debug/local-stack "$@"
