#!/usr/bin/env python3
"""Create weft's stateful resources on a local AWS endpoint (moto server) from infra/template.yaml.

The DynamoDB table, the KMS key, the Plaid secret and the sync queue (with its dead-letter queue)
are read out of the SAM template and created through the AWS APIs, so the local stack cannot drift
from what is deployed: a property this script does not know how to reproduce is an error, not a
silent omission.

    provision.py --endpoint http://127.0.0.1:PORT --name-prefix test-abc \
        --plaid-client-id ID --plaid-secret S
        -> one JSON line on stdout:
           {"table_name": "test-abc-weft", "kms_key_id": "<uuid>", "kms_key_arn": "arn:aws:kms:...",
            "secret_id": "arn:aws:secretsmanager:...", "sync_queue_url": "http://.../test-abc-weft-sync.fifo",
            "sync_dlq_url": "http://.../test-abc-weft-sync-dlq.fifo"}
        Names: table <prefix>-weft, key alias alias/<prefix>-weft, secret <prefix>-weft/plaid,
        queues <prefix>-weft-sync.fifo and <prefix>-weft-sync-dlq.fifo.
        Idempotent: a second run with the same prefix reuses everything (and stores the given
        credentials if they changed).

    provision.py --print-function-env link-token
        -> the environment variable names the template sets for that function (Globals merged),
           one per line, sorted. NAME is the cargo binary (link-token, exchange, webhook,
           sync-worker, items, churn-remover, sweep) or the logical id (LinkTokenFunction).

Credentials and region come from the usual AWS_* variables; when none are set, the moto
defaults (testing / testing, us-east-1) are used.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import string
import sys
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"

# Logical ids in infra/template.yaml.
TABLE_ID = "Table"
KEY_ID = "KmsKey"
SECRET_ID = "PlaidSecret"
PSEUDONYM_SECRET_ID = "UserPseudonymSecret"
SYNC_QUEUE_ID = "SyncQueue"
SYNC_DLQ_ID = "SyncDlq"
EVENT_BUS_ID = "ItemEventBus"

PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")


# --------------------------------------------------------------------------------------------
# Template loading: CloudFormation YAML with short-form intrinsic tags
# --------------------------------------------------------------------------------------------
class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns !Ref, !Sub, !GetAtt ... into their long JSON forms."""


def _construct_intrinsic(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # !GetAtt Resource.Attribute (the attribute itself may contain dots)
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        template = yaml.load(handle, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(template, dict) or "Resources" not in template:
        raise SystemExit(f"{path}: not a CloudFormation template")
    return template


def resource_properties(
    template: dict[str, Any],
    logical_id: str,
    expected_type: str,
    handled: set[str],
    ignored: dict[str, str],
) -> dict[str, Any]:
    """The resource's properties minus the deliberately ignored ones; unknown ones are an error."""
    found = template["Resources"].get(logical_id)
    if found is None or found.get("Type") != expected_type:
        raise SystemExit(f"template has no {expected_type} named {logical_id}")
    props = dict(found.get("Properties", {}))
    unknown = sorted(set(props) - handled - set(ignored))
    if unknown:
        raise SystemExit(
            f"{logical_id} ({expected_type}) in the template sets {', '.join(unknown)}, which "
            "infra/local/provision.py does not reproduce locally; teach it (or list the property "
            "as deliberately ignored, with the reason)."
        )
    return {name: value for name, value in props.items() if name not in ignored}


class Resolver:
    """Replaces the intrinsics that may appear in the copied properties with local values."""

    def __init__(self, refs: dict[str, Any], attributes: dict[str, Any]):
        self.refs = refs
        self.attributes = attributes

    def __call__(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [self(item, where) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), = value.items()
            if name == "Ref":
                if argument in self.refs:
                    return self.refs[argument]
                raise SystemExit(f"{where}: cannot resolve !Ref {argument} locally")
            if name == "Fn::GetAtt":
                key = ".".join(argument)
                if key in self.attributes:
                    return self.attributes[key]
                raise SystemExit(f"{where}: cannot resolve !GetAtt {key} locally")
            if name.startswith("Fn::"):
                raise SystemExit(f"{where}: cannot resolve {name} locally")
        return {key: self(item, f"{where}.{key}") for key, item in value.items()}


# --------------------------------------------------------------------------------------------
# KMS key
# --------------------------------------------------------------------------------------------
KEY_HANDLED = {"KeySpec", "KeyUsage", "EnableKeyRotation"}
KEY_IGNORED = {
    "Description": "a local description is used",
    # Names the deployed function roles, which do not exist locally; moto does not evaluate key
    # policies anyway. Encryption-context enforcement (what the app relies on) is real in moto.
    "KeyPolicy": "references deployed IAM roles",
    "PendingWindowInDays": "only matters when scheduling deletion",
}


def ensure_key(kms: Any, props: dict[str, Any], prefix: str) -> dict[str, str]:
    alias = f"alias/{prefix}-weft"
    try:
        metadata = kms.describe_key(KeyId=alias)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        metadata = kms.create_key(
            Description=f"weft local ({prefix}): per-item data keys",
            KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
        )["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=metadata["KeyId"])
    return {"kms_key_id": metadata["KeyId"], "kms_key_arn": metadata["Arn"]}


# --------------------------------------------------------------------------------------------
# DynamoDB table
# --------------------------------------------------------------------------------------------
TABLE_HANDLED = {
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "BillingMode",
    "TimeToLiveSpecification",
    "PointInTimeRecoverySpecification",
    "SSESpecification",
}
TABLE_IGNORED = {
    "TableName": "replaced by <prefix>-weft",
    # Would stop tests from deleting their tables; a deployment concern only.
    "DeletionProtectionEnabled": "deployment-only",
}


def _index_shape(indexes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        index["IndexName"]: (
            [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]],
            index["Projection"]["ProjectionType"],
        )
        for index in indexes or []
    }


def ensure_table(ddb: Any, props: dict[str, Any], name: str) -> None:
    try:
        existing = ddb.describe_table(TableName=name)["Table"]
    except ddb.exceptions.ResourceNotFoundException:
        existing = None

    if existing is None:
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if props.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        sse = props.get("SSESpecification")
        if sse:
            # CloudFormation spells it SSEEnabled, the API Enabled.
            request["SSESpecification"] = {
                key: value
                for key, value in {
                    "Enabled": sse.get("SSEEnabled", False),
                    "SSEType": sse.get("SSEType"),
                    "KMSMasterKeyId": sse.get("KMSMasterKeyId"),
                }.items()
                if value is not None
            }
        ddb.create_table(**request)
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    else:
        wanted = (
            [(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]],
            _index_shape(props.get("GlobalSecondaryIndexes", [])),
        )
        found = (
            [(k["AttributeName"], k["KeyType"]) for k in existing["KeySchema"]],
            _index_shape(existing.get("GlobalSecondaryIndexes", [])),
        )
        if wanted != found:
            raise SystemExit(
                f"table {name} exists with a different key schema or indexes than the template; "
                "use a fresh --name-prefix"
            )

    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )

    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr and pitr.get("PointInTimeRecoveryEnabled"):
        # moto 5 implements UpdateContinuousBackups; other local endpoints may not. PITR changes
        # nothing the application can observe, so an endpoint without it is tolerated (stderr note).
        try:
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        except Exception as error:  # noqa: BLE001 - any "not implemented" shape
            print(f"note: point-in-time recovery not enabled locally: {error}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# Secrets Manager secret
# --------------------------------------------------------------------------------------------
SECRET_HANDLED = {"KmsKeyId", "SecretString"}
SECRET_IGNORED = {"Name": "replaced by <prefix>-weft/plaid", "Description": "a local description is used"}


def ensure_secret(sm: Any, props: dict[str, Any], name: str, client_id: str, secret: str) -> str:
    placeholder = json.loads(props["SecretString"])
    if set(placeholder) != {"client_id", "secret"}:
        raise SystemExit(f"{SECRET_ID}.SecretString has keys {sorted(placeholder)}, expected client_id and secret")
    value = json.dumps({"client_id": client_id, "secret": secret})
    try:
        arn = sm.describe_secret(SecretId=name)["ARN"]
    except sm.exceptions.ResourceNotFoundException:
        request = {"Name": name, "SecretString": value, "Description": f"weft local: Plaid credentials ({name})"}
        if props.get("KmsKeyId"):
            request["KmsKeyId"] = props["KmsKeyId"]
        return sm.create_secret(**request)["ARN"]
    if sm.get_secret_value(SecretId=arn)["SecretString"] != value:
        sm.put_secret_value(SecretId=arn, SecretString=value)
    return arn


PSEUDONYM_HANDLED = {"KmsKeyId", "GenerateSecretString"}
PSEUDONYM_IGNORED = {
    "Name": "replaced by <prefix>-weft/user-pseudonym-key",
    "Description": "a local description is used",
}


def ensure_generated_secret(sm: Any, props: dict[str, Any], name: str) -> str:
    """A secret CloudFormation generates (GenerateSecretString): created once with a random value of the
    template's length, then kept (a new value would change everything derived from it)."""
    generate = props.get("GenerateSecretString") or {}
    length = int(generate.get("PasswordLength", 32))
    if length < 32:
        raise SystemExit(f"{PSEUDONYM_SECRET_ID}.GenerateSecretString.PasswordLength must be at least 32")
    try:
        return sm.describe_secret(SecretId=name)["ARN"]
    except sm.exceptions.ResourceNotFoundException:
        alphabet = string.ascii_letters + string.digits
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        request = {"Name": name, "SecretString": value, "Description": f"weft local: user pseudonym key ({name})"}
        if props.get("KmsKeyId"):
            request["KmsKeyId"] = props["KmsKeyId"]
        return sm.create_secret(**request)["ARN"]


# --------------------------------------------------------------------------------------------
# SQS queues
# --------------------------------------------------------------------------------------------
QUEUE_HANDLED = {
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "SqsManagedSseEnabled",
    "RedrivePolicy",
}
QUEUE_IGNORED = {"QueueName": "replaced by <prefix>-weft-<role>[.fifo]"}


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    """CloudFormation queue properties -> SetQueueAttributes strings (same names, string values)."""
    attributes = {}
    for name, value in props.items():
        if name == "RedrivePolicy":
            attributes[name] = json.dumps(value)
        elif isinstance(value, bool):
            attributes[name] = "true" if value else "false"
        else:
            attributes[name] = str(value)
    return attributes


def ensure_queue(sqs: Any, props: dict[str, Any], name: str) -> tuple[str, str]:
    """Creates or reuses the queue; returns (url, arn)."""
    if props.get("FifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        url = sqs.create_queue(QueueName=name, Attributes=_queue_attributes(props))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


BUS_HANDLED: set[str] = set()
BUS_IGNORED = {"Name": "replaced by <prefix>-weft-items"}


def ensure_event_bus(events: Any, props: dict[str, Any], name: str) -> str:
    """Creates or reuses the EventBridge bus; returns its name."""
    del props  # nothing but the name, which is the prefix's
    try:
        events.describe_event_bus(Name=name)
    except events.exceptions.ResourceNotFoundException:
        events.create_event_bus(Name=name)
    return name


# --------------------------------------------------------------------------------------------
# Function environments
# --------------------------------------------------------------------------------------------
def function_env_keys(template: dict[str, Any], name: str) -> list[str]:
    functions = {
        logical_id: res
        for logical_id, res in template["Resources"].items()
        if res.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function")
    }
    match = functions.get(name)
    if match is None:
        for res in functions.values():
            binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if binary == name:
                match = res
                break
    if match is None:
        binaries = sorted(
            str(res.get("Metadata", {}).get("BuildProperties", {}).get("Binary")) for res in functions.values()
        )
        raise SystemExit(f"no function {name!r} in the template (binaries: {', '.join(binaries)})")
    keys = set()
    if match["Type"] == "AWS::Serverless::Function":
        globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {})
        keys |= set(globals_env.get("Variables", {}))
    keys |= set(match.get("Properties", {}).get("Environment", {}).get("Variables", {}))
    return sorted(keys)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template (default: infra/template.yaml)")
    parser.add_argument("--print-function-env", metavar="NAME", help="print the function's environment variable names and exit")
    parser.add_argument("--endpoint", help="AWS endpoint URL, e.g. http://127.0.0.1:5000 (moto server)")
    parser.add_argument("--name-prefix", help="prefix of every created name: <prefix>-weft, alias/<prefix>-weft, <prefix>-weft/plaid")
    parser.add_argument("--plaid-client-id", help="stored as client_id in the secret")
    parser.add_argument("--plaid-secret", help="stored as secret in the secret")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    args = parser.parse_args(argv)
    if args.print_function_env is None:
        missing = [flag for flag, value in (
            ("--endpoint", args.endpoint),
            ("--name-prefix", args.name_prefix),
            ("--plaid-client-id", args.plaid_client_id),
            ("--plaid-secret", args.plaid_secret),
        ) if not value]
        if missing:
            parser.error("missing " + ", ".join(missing))
        if not PREFIX_PATTERN.match(args.name_prefix):
            parser.error("--name-prefix: letters, digits, '-' and '_' only, at most 48 characters")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    template = load_template(args.template)

    if args.print_function_env is not None:
        print("\n".join(function_env_keys(template, args.print_function_env)))
        return 0

    import boto3  # imported here so --print-function-env works without boto3

    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
        region_name=args.region,
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=args.endpoint)

    # Read (and check) all three definitions before creating anything.
    key_props = resource_properties(template, KEY_ID, "AWS::KMS::Key", KEY_HANDLED, KEY_IGNORED)
    table_props = resource_properties(template, TABLE_ID, "AWS::DynamoDB::Table", TABLE_HANDLED, TABLE_IGNORED)
    secret_props = resource_properties(
        template, SECRET_ID, "AWS::SecretsManager::Secret", SECRET_HANDLED, SECRET_IGNORED
    )
    pseudonym_props = resource_properties(
        template, PSEUDONYM_SECRET_ID, "AWS::SecretsManager::Secret", PSEUDONYM_HANDLED, PSEUDONYM_IGNORED
    )
    dlq_props = resource_properties(template, SYNC_DLQ_ID, "AWS::SQS::Queue", QUEUE_HANDLED, QUEUE_IGNORED)
    queue_props = resource_properties(template, SYNC_QUEUE_ID, "AWS::SQS::Queue", QUEUE_HANDLED, QUEUE_IGNORED)
    bus_props = resource_properties(template, EVENT_BUS_ID, "AWS::Events::EventBus", BUS_HANDLED, BUS_IGNORED)

    prefix = args.name_prefix
    key = ensure_key(client("kms"), key_props, prefix)

    # The table and the secret are encrypted with the key: point them at the local one.
    resolve = Resolver(refs={KEY_ID: key["kms_key_id"]}, attributes={f"{KEY_ID}.Arn": key["kms_key_arn"]})
    table_props = resolve(table_props, TABLE_ID)
    secret_props = resolve(secret_props, SECRET_ID)
    pseudonym_props = resolve(pseudonym_props, PSEUDONYM_SECRET_ID)

    table_name = f"{prefix}-weft"
    ensure_table(client("dynamodb"), table_props, table_name)
    secret_arn = ensure_secret(
        client("secretsmanager"), secret_props, f"{prefix}-weft/plaid", args.plaid_client_id, args.plaid_secret
    )

    pseudonym_secret_arn = ensure_generated_secret(
        client("secretsmanager"), pseudonym_props, f"{prefix}-weft/user-pseudonym-key"
    )

    sqs = client("sqs")
    dlq_url, dlq_arn = ensure_queue(sqs, Resolver({}, {})(dlq_props, SYNC_DLQ_ID), f"{prefix}-weft-sync-dlq")
    queue_props = Resolver({}, {f"{SYNC_DLQ_ID}.Arn": dlq_arn})(queue_props, SYNC_QUEUE_ID)
    queue_url, _ = ensure_queue(sqs, queue_props, f"{prefix}-weft-sync")
    event_bus_name = ensure_event_bus(client("events"), bus_props, f"{prefix}-weft-items")

    print(json.dumps({
        "table_name": table_name,
        "kms_key_id": key["kms_key_id"],
        "kms_key_arn": key["kms_key_arn"],
        "secret_id": secret_arn,
        "pseudonym_secret_id": pseudonym_secret_arn,
        "sync_queue_url": queue_url,
        "sync_dlq_url": dlq_url,
        "event_bus_name": event_bus_name,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
