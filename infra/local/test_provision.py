"""infra/local/provision.py against a real moto server.

    .venv/bin/python -m pytest infra/local

Starts its own moto server on a free loopback port and stops it at the end; every test uses its own
name prefix, so the tests do not interfere.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
PROVISION = HERE / "provision.py"
TEMPLATE = HERE.parent / "template.yaml"
MOTO_SERVER = Path(sys.executable).with_name("moto_server")

sys.path.insert(0, str(HERE))
import provision  # noqa: E402

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
CONTEXT = {"weft:item_id": "item-1", "weft:purpose": "item-secrets"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **AWS_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=AWS_ENV["AWS_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROVISION), *args],
        env={**os.environ, **AWS_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _provision(endpoint: str, prefix: str, client_id: str = "client-id", secret: str = "sandbox-secret") -> dict:
    result = _run(
        "--endpoint", endpoint, "--name-prefix", prefix, "--plaid-client-id", client_id, "--plaid-secret", secret
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def _template_table() -> dict:
    return provision.load_template(TEMPLATE)["Resources"]["Table"]["Properties"]


def test_output_format_and_idempotence(endpoint, prefix):
    first = _provision(endpoint, prefix)
    assert set(first) == {
        "table_name", "kms_key_id", "kms_key_arn", "secret_id", "pseudonym_secret_id", "sync_queue_url", "sync_dlq_url",
        "event_bus_name",
    }
    assert first["event_bus_name"] == f"{prefix}-weft-items"
    bus = _client("events", endpoint).describe_event_bus(Name=first["event_bus_name"])
    assert bus["Name"] == first["event_bus_name"]
    assert first["table_name"] == f"{prefix}-weft"
    assert first["kms_key_arn"].endswith(f":key/{first['kms_key_id']}")
    assert first["secret_id"].startswith("arn:aws:secretsmanager:")

    second = _provision(endpoint, prefix)
    assert second == first

    kms = _client("kms", endpoint)
    aliases = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == f"alias/{prefix}-weft"]
    assert [a["TargetKeyId"] for a in aliases] == [first["kms_key_id"]]


def test_table_matches_template(endpoint, prefix):
    out = _provision(endpoint, prefix)
    ddb = _client("dynamodb", endpoint)
    table = ddb.describe_table(TableName=out["table_name"])["Table"]
    expected = _template_table()

    assert table["KeySchema"] == expected["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        expected["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"GSI1", "GSI2"}
    for name in ("GSI1", "GSI2"):
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": f"{name}PK", "KeyType": "HASH"},
            {"AttributeName": f"{name}SK", "KeyType": "RANGE"},
        ]
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}

    ttl = ddb.describe_time_to_live(TableName=out["table_name"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}

    backups = ddb.describe_continuous_backups(TableName=out["table_name"])["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    assert table["SSEDescription"]["SSEType"] == "KMS"
    assert table["SSEDescription"]["KMSMasterKeyArn"] == out["kms_key_arn"]

    # The indexes answer queries (a churn-shard style query on GSI2).
    ddb.put_item(
        TableName=out["table_name"],
        Item={
            "PK": {"S": "USER#u1"},
            "SK": {"S": "PROFILE"},
            "GSI2PK": {"S": "CHURN#ACTIVE#07"},
            "GSI2SK": {"S": "2026-01-01T00:00:00Z"},
        },
    )
    found = ddb.query(
        TableName=out["table_name"],
        IndexName="GSI2",
        KeyConditionExpression="GSI2PK = :p",
        ExpressionAttributeValues={":p": {"S": "CHURN#ACTIVE#07"}},
    )
    assert found["Count"] == 1


def test_key_enforces_encryption_context(endpoint, prefix):
    out = _provision(endpoint, prefix)
    kms = _client("kms", endpoint)

    metadata = kms.describe_key(KeyId=f"alias/{prefix}-weft")["KeyMetadata"]
    template_key = provision.load_template(TEMPLATE)["Resources"]["KmsKey"]["Properties"]
    assert metadata["KeyId"] == out["kms_key_id"]
    assert metadata["KeySpec"] == template_key["KeySpec"]
    assert metadata["KeyUsage"] == template_key["KeyUsage"]
    assert kms.get_key_rotation_status(KeyId=out["kms_key_id"])["KeyRotationEnabled"] is True

    data_key = kms.generate_data_key(KeyId=out["kms_key_id"], KeySpec="AES_256", EncryptionContext=CONTEXT)
    assert len(data_key["Plaintext"]) == 32
    plain = kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=CONTEXT)["Plaintext"]
    assert plain == data_key["Plaintext"]

    for wrong in ({**CONTEXT, "weft:item_id": "item-2"}, {"weft:item_id": "item-1"}, {}):
        with pytest.raises(ClientError) as error:
            kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=wrong)
        assert error.value.response["Error"]["Code"] == "InvalidCiphertextException"


def test_secret_holds_credentials_and_follows_updates(endpoint, prefix):
    out = _provision(endpoint, prefix, client_id="id-1", secret="secret-1")
    sm = _client("secretsmanager", endpoint)
    value = json.loads(sm.get_secret_value(SecretId=out["secret_id"])["SecretString"])
    assert value == {"client_id": "id-1", "secret": "secret-1"}
    assert sm.describe_secret(SecretId=out["secret_id"])["KmsKeyId"] in (out["kms_key_id"], out["kms_key_arn"])

    again = _provision(endpoint, prefix, client_id="id-1", secret="secret-1")
    assert again["secret_id"] == out["secret_id"]
    assert len(sm.list_secret_version_ids(SecretId=out["secret_id"])["Versions"]) == 1

    _provision(endpoint, prefix, client_id="id-2", secret="secret-2")
    value = json.loads(sm.get_secret_value(SecretId=out["secret_id"])["SecretString"])
    assert value == {"client_id": "id-2", "secret": "secret-2"}


def test_pseudonym_key_is_generated_once_and_kept(endpoint, prefix):
    out = _provision(endpoint, prefix)
    sm = _client("secretsmanager", endpoint)
    key = sm.get_secret_value(SecretId=out["pseudonym_secret_id"])["SecretString"]
    generate = provision.load_template(TEMPLATE)["Resources"]["UserPseudonymSecret"]["Properties"]["GenerateSecretString"]
    assert len(key) == generate["PasswordLength"] >= 32
    assert key.isalnum()
    assert sm.describe_secret(SecretId=out["pseudonym_secret_id"])["KmsKeyId"] in (out["kms_key_id"], out["kms_key_arn"])
    again = _provision(endpoint, prefix)
    assert again["pseudonym_secret_id"] == out["pseudonym_secret_id"]
    assert sm.get_secret_value(SecretId=out["pseudonym_secret_id"])["SecretString"] == key, "kept, not regenerated"
    other = _provision(endpoint, f"{prefix}x")
    assert sm.get_secret_value(SecretId=other["pseudonym_secret_id"])["SecretString"] != key


def test_sync_queue_matches_template(endpoint, prefix):
    out = _provision(endpoint, prefix)
    assert out["sync_queue_url"].endswith(f"/{prefix}-weft-sync.fifo")
    assert out["sync_dlq_url"].endswith(f"/{prefix}-weft-sync-dlq.fifo")
    sqs = _client("sqs", endpoint)
    template = provision.load_template(TEMPLATE)["Resources"]
    wanted = template["SyncQueue"]["Properties"]

    attributes = sqs.get_queue_attributes(QueueUrl=out["sync_queue_url"], AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=out["sync_dlq_url"], AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert attributes["FifoQueue"] == "true"
    assert attributes["ContentBasedDeduplication"] == "false"
    assert attributes["VisibilityTimeout"] == str(wanted["VisibilityTimeout"])
    assert attributes["MessageRetentionPeriod"] == str(wanted["MessageRetentionPeriod"])
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": wanted["RedrivePolicy"]["maxReceiveCount"],
    }

    # The hand-off as shared/src/queue sends it: group = item id, explicit deduplication id.
    body = json.dumps({"item_id": "item-1", "reason": "SYNC_UPDATES_AVAILABLE", "dedup_key": "abc"})
    for _ in range(2):
        sqs.send_message(
            QueueUrl=out["sync_queue_url"], MessageBody=body, MessageGroupId="item-1", MessageDeduplicationId="abc"
        )
    received = sqs.receive_message(QueueUrl=out["sync_queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert [m["Body"] for m in received["Messages"]] == [body]


COMMON_ENV = {
    "WEFT_TABLE_NAME",
    "WEFT_KMS_KEY_ID",
    "WEFT_PLAID_SECRET_ID",
    "WEFT_PSEUDONYM_SECRET_ID",
    "WEFT_AUDIT_RETENTION_DAYS",
    "WEFT_EVENT_BUS_NAME",
    "WEFT_RELINK_URL_LIFETIME_HOURS",
    "WEFT_RELINK_COMPLETION_URI",
    "WEFT_PLAID_ENV",
    "WEFT_PLAID_PRODUCTS",
    "WEFT_PLAID_COUNTRY_CODES",
    "WEFT_PLAID_CLIENT_NAME",
    "WEFT_PLAID_LANGUAGE",
    "WEFT_PLAID_WEBHOOK_URL",
    "WEFT_PLAID_REDIRECT_URI",
    "WEFT_PLAID_ANDROID_PACKAGE_NAME",
    "WEFT_AUTH_ISSUER",
    "WEFT_AUTH_AUDIENCE",
    "RUST_LOG",
}
EXTRA_ENV = {
    "link-token": set(),
    # exchange queues a new item's first sync; items queues a catch-up sync after a repair.
    "exchange": {"WEFT_SYNC_QUEUE_URL"},
    "items": {"WEFT_SYNC_QUEUE_URL"},
    "sync-worker": {"WEFT_SYNC_QUEUE_URL"},
    "webhook": {"WEFT_SYNC_QUEUE_URL"},
    "churn-remover": {
        "WEFT_CHURN_INACTIVE_DAYS",
        "WEFT_CHURN_ERROR_DAYS",
        "WEFT_CHURN_MAX_IGNORED_PROMPTS",
        "WEFT_CHURN_FUNCTION_NAME",
        "WEFT_METRICS_NAMESPACE",
    },
    # events: reminders on their schedule; its own metrics.
    "events": {"WEFT_REMINDER_DAYS", "WEFT_REMINDER_THEN_EVERY_DAYS", "WEFT_METRICS_NAMESPACE"},
    # sweep queues a catch-up sync for an item it finds repaired (or a first one for an item it makes from a
    # Link session nothing closed, asked about after WEFT_LINK_SESSION_TIMEOUT_MINUTES).
    "sweep": {
        "WEFT_SWEEP_STALE_AFTER_HOURS",
        "WEFT_SWEEP_CHECKS_PER_MINUTE",
        "WEFT_SWEEP_FUNCTION_NAME",
        "WEFT_SYNC_QUEUE_URL",
        "WEFT_METRICS_NAMESPACE",
        "WEFT_LINK_SESSION_TIMEOUT_MINUTES",
    },
}


@pytest.mark.parametrize("function", sorted(EXTRA_ENV))
def test_print_function_env(function):
    result = _run("--print-function-env", function)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == sorted(COMMON_ENV | EXTRA_ENV[function])


def test_print_function_env_by_logical_id_and_unknown():
    by_id = _run("--print-function-env", "WebhookFunction")
    assert by_id.stdout == _run("--print-function-env", "webhook").stdout
    unknown = _run("--print-function-env", "nope")
    assert unknown.returncode != 0
    assert "link-token" in unknown.stderr


def test_unknown_table_property_is_an_error(tmp_path, endpoint, prefix):
    text = TEMPLATE.read_text(encoding="utf-8").replace(
        "      BillingMode: PAY_PER_REQUEST\n",
        "      BillingMode: PAY_PER_REQUEST\n      StreamSpecification:\n        StreamViewType: NEW_IMAGE\n",
        1,
    )
    drifted = tmp_path / "template.yaml"
    drifted.write_text(text, encoding="utf-8")
    result = _run(
        "--template", str(drifted), "--endpoint", endpoint, "--name-prefix", prefix,
        "--plaid-client-id", "x", "--plaid-secret", "y",
    )
    assert result.returncode != 0
    assert "StreamSpecification" in result.stderr
