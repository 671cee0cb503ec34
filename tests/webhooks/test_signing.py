"""The signature scheme: what `headers` signs, `verify` accepts, and nothing else."""

import pytest

from fleet.webhooks.signing import SIGNATURE_HEADER, headers, signature, verify

SECRET = "whsec_test"
BODY = b'{"id":1,"kind":"event","created_at":"2026-03-01T00:00:00Z","data":{}}'
NOW = 1_772_323_200


def test_a_signed_request_verifies_within_the_tolerance() -> None:
    header = headers(SECRET, 1, "event", BODY, NOW)[SIGNATURE_HEADER]

    assert header == f"t={NOW},v1={signature(SECRET, NOW, BODY)}"
    assert verify(SECRET, header, BODY, tolerance=300, now=NOW + 299)
    assert verify(SECRET, f"t={NOW},v1=00ff,v1={signature(SECRET, NOW, BODY)}", BODY, now=NOW)


@pytest.mark.parametrize(
    ("secret", "header", "body", "now"),
    [
        pytest.param("whsec_other", None, BODY, NOW, id="another-secret"),
        pytest.param(SECRET, None, BODY + b" ", NOW, id="body-changed"),
        pytest.param(SECRET, None, BODY, NOW + 301, id="too-old"),
        pytest.param(SECRET, None, BODY, NOW - 301, id="from-the-future"),
        pytest.param(SECRET, f"t={NOW + 1},v1={signature(SECRET, NOW, BODY)}", BODY, NOW, id="timestamp-changed"),
        pytest.param(SECRET, f"v1={signature(SECRET, NOW, BODY)}", BODY, NOW, id="no-timestamp"),
        pytest.param(SECRET, f"t={NOW}", BODY, NOW, id="no-signature"),
        pytest.param(SECRET, "t=²,v1=00", BODY, NOW, id="not-ascii-digits"),
        pytest.param(SECRET, "garbage", BODY, NOW, id="garbage"),
    ],
)
def test_anything_else_is_refused(secret: str, header: str | None, body: bytes, now: int) -> None:
    header = header or headers(SECRET, 1, "event", BODY, NOW)[SIGNATURE_HEADER]

    assert not verify(secret, header, body, tolerance=300, now=now)
