#!/usr/bin/env bash
# Lint infra/template.yaml offline: cfn-lint on the SAM template, cfn-lint on its SAM expansion
# (catches dependency cycles the transform creates), and checkov. Creates the two venvs on first
# use; quiet when the tools are already installed. Exit status: non-zero on any finding.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# Installs each tool only when it is missing (scripts/bootstrap.sh may already have installed it,
# possibly a newer version: never downgrade it here).
ensure() { # venv-dir, python-module, requirement
  local dir=$1 module=$2 requirement=$3
  [[ -x $dir/bin/python ]] || "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -c "import $module" 2>/dev/null ||
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$requirement"
}

# cfn-lint and the SAM translator share the project venv (moto, boto3); checkov pins an old boto3,
# so it gets its own. Versions known to pass: cfn-lint 1.58, aws-sam-translator 1.115, checkov 3.3.
ensure .venv cfnlint cfn-lint
ensure .venv samtranslator aws-sam-translator
ensure .venv-checkov checkov checkov

expanded=$(mktemp --suffix=.json)
trap 'rm -f "$expanded"' EXIT

echo "cfn-lint infra/template.yaml"
.venv/bin/cfn-lint infra/template.yaml

echo "cfn-lint (SAM-expanded template)"
PYTHONDONTWRITEBYTECODE=1 .venv/bin/python infra/expand_sam.py infra/template.yaml >"$expanded"
.venv/bin/cfn-lint "$expanded"

echo "checkov"
.venv-checkov/bin/checkov -f infra/template.yaml --framework cloudformation --skip-download --compact --quiet

echo "lint: clean"
