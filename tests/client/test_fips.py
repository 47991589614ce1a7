"""Signing on a host whose OpenSSL runs in FIPS mode: MD5 is the vendor's protocol, not our
protection, so it is asked for with ``usedforsecurity=False`` and works there."""

from __future__ import annotations

import hashlib
import json

import pytest
from responses import matchers

from laaffic_recall.client import LaafficClient
from laaffic_recall.client.wire import sign
from tests.support.vendor import TEST_SETTINGS, api_url

VECTOR = {"key": "bDqJFiq9", "secret": "7bz1lzh9", "timestamp": "1630468800"}
VECTOR_SIGN = "05d7a50893e22a5c4bb3216ae3396c7c"

_real_md5 = hashlib.md5


def _fips_md5(*args, **kwargs):
    """What a FIPS-mode OpenSSL does: MD5 refused unless declared not for security."""
    if kwargs.get("usedforsecurity", True):
        raise ValueError("[digital envelope routines] unsupported: md5 disabled for FIPS")
    return _real_md5(*args, **kwargs)


@pytest.fixture
def fips(monkeypatch):
    monkeypatch.setattr(hashlib, "md5", _fips_md5)


def test_the_fips_stand_in_refuses_plain_md5(fips):
    with pytest.raises(ValueError, match="FIPS"):
        hashlib.md5(b"x")


def test_the_client_signs_under_fips(fips, mocked_api):
    mocked_api.post(
        api_url("cancel"),
        json={"code": 0, "msg": "success"},
        match=[
            matchers.header_matcher(
                {"Api-Key": VECTOR["key"], "Timestamp": VECTOR["timestamp"], "Sign": VECTOR_SIGN}
            )
        ],
    )
    client = LaafficClient(
        api_key=VECTOR["key"],
        api_secret=VECTOR["secret"],
        base_url=TEST_SETTINGS["BASE_URL"],
        clock=lambda: int(VECTOR["timestamp"]),
    )
    assert sign(VECTOR["key"], VECTOR["secret"], VECTOR["timestamp"]) == VECTOR_SIGN
    client.cancel(1, 12)
    assert len(mocked_api.calls) == 1


@pytest.mark.django_db
def test_the_sandbox_checks_signatures_under_fips(fips, client, settings):
    settings.LAAFFIC_SANDBOX = {
        "API_KEY": VECTOR["key"],
        "API_SECRET": VECTOR["secret"],
        "MAX_SKEW_SECONDS": None,
    }
    headers = {"Api-Key": VECTOR["key"], "Timestamp": VECTOR["timestamp"], "Sign": VECTOR_SIGN}
    response = client.post(
        "/sandbox/voice/recallFlow/queryDetail",
        data=json.dumps({"keyId": 1}),
        content_type="application/json;charset=UTF-8",
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json()["code"] != -1  # signature accepted: no authentication error
