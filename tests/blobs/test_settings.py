"""BlobSettings: the FLEET_S3_* variables and FLEET_BLOB_SIGNING_KEY, read, checked together, kept secret."""

import os

import pytest
from pydantic import ValidationError

from cli.main import describe_settings_error
from fleet.settings import BlobSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("FLEET_")]:
        monkeypatch.delenv(name)


def test_the_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    variables = {
        "FLEET_S3_ENDPOINT_URL": "http://seaweedfs:8333/",
        "FLEET_S3_PUBLIC_ENDPOINT_URL": "https://files.example.com",
        "FLEET_S3_BUCKET": "fleet-files",
        "FLEET_S3_REGION": "eu-central-1",
        "FLEET_S3_ACCESS_KEY_ID": "fleet",
        "FLEET_S3_SECRET_ACCESS_KEY": "s3cr3t-value",
        "FLEET_S3_SSE": "aws:kms",
        "FLEET_S3_SSE_KMS_KEY_ID": "alias/fleet",
        "FLEET_BLOB_SIGNING_KEY": "0123456789abcdef0123456789abcdef",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    settings = BlobSettings()

    assert settings.uses_s3
    assert settings.s3_endpoint_url == "http://seaweedfs:8333"
    assert (settings.s3_bucket, settings.s3_region, settings.s3_sse) == ("fleet-files", "eu-central-1", "aws:kms")
    assert settings.s3_secret_access_key.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings) and "0123456789abcdef" not in repr(settings)


def test_the_defaults_are_the_local_store() -> None:
    settings = BlobSettings()

    assert not settings.uses_s3
    assert (settings.s3_region, settings.s3_sse, settings.blob_signing_key.get_secret_value()) == (
        "us-east-1",
        "none",
        "",
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"s3_access_key_id": "fleet"}, "go together"),
        ({"s3_secret_access_key": "secret"}, "go together"),
        ({"s3_sse_kms_key_id": "alias/fleet"}, "not aws:kms"),
        ({"s3_sse": "AES256", "s3_sse_kms_key_id": "alias/fleet"}, "not aws:kms"),
        ({"s3_public_endpoint_url": "https://files.example.com"}, "needs FLEET_S3_ENDPOINT_URL"),
    ],
)
def test_settings_that_only_make_sense_together(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BlobSettings(**values)  # type: ignore[arg-type]


def test_a_refused_value_is_named_by_its_variable_and_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_BLOB_SIGNING_KEY", "secret-placeholder-secret-placeholder")
    monkeypatch.setenv("FLEET_S3_BUCKET", "Not A Bucket")

    with pytest.raises(ValidationError) as refused:
        BlobSettings()

    described = describe_settings_error(refused.value)
    assert "FLEET_BLOB_SIGNING_KEY" in described and "FLEET_S3_BUCKET" in described
    assert "secret-placeholder" not in described + str(refused.value)
