"""Expand infra/template.yaml with the SAM translator, offline, and print the CloudFormation JSON.

cfn-lint validates SAM templates without expanding them, so it cannot see problems that only the
expansion creates (a function Event on the HttpApi makes the API depend on the function; the
function's WEFT_PLAID_WEBHOOK_URL makes the function depend on the API: E3004 only after the
transform). infra/lint.sh runs cfn-lint on this output too.

    python infra/expand_sam.py infra/template.yaml > expanded.json
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from cfnlint.decode import decode_str  # noqa: E402  (YAML with CloudFormation short-form tags)
from samtranslator.translator.transform import transform  # noqa: E402


class _NoManagedPolicies:
    """The template attaches no managed policies by name, so nothing needs looking up."""

    def load(self) -> dict:
        return {}


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"
    with open(path, encoding="utf-8") as handle:
        template, problems = decode_str(handle.read())
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    template = _plain(template)
    # The translator wants an uploaded artifact; the code location does not affect the graph.
    template.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://placeholder/code.zip"
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"].pop("CodeUri", None)
    json.dump(transform(template, {}, _NoManagedPolicies()), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
