"""Hostile request bodies on the sandbox's endpoints: a -22 "parameter exception" in the
vendor's envelope, or a normal answer, but never a 500 and never a changed task."""

from __future__ import annotations

import json

import pytest

from laaffic_recall.sandbox.models import SandboxCall, SandboxTask
from laaffic_recall.sandbox.testing import Status, create_task, signed_headers

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

KEY = "sbx-key"
SECRET = "sbx-secret-do-not-leak"
BASE = "/sandbox/voice/recallFlow"
HUGE = 2**70
WINDOW = {"strTime": "2024-05-18 00:00:00", "endTime": "2024-05-19 23:59:59"}


@pytest.fixture(autouse=True)
def sandbox_config(settings):
    settings.LAAFFIC_SANDBOX = {"API_KEY": KEY, "API_SECRET": SECRET, "TIMEZONE": "UTC"}
    return settings.LAAFFIC_SANDBOX


def post_raw(client, call, raw, content_type="application/json;charset=UTF-8", headers=None):
    return client.post(
        f"{BASE}/{call}",
        data=raw,
        content_type=content_type,
        headers=signed_headers() if headers is None else headers,
    )


ODD_IDS = [
    HUGE,
    -HUGE,
    str(HUGE),
    "--5",
    "-",
    "²",
    "١٢",
    " 12 ",
    "1e3",
    1e300,
    1.5,
    True,
    None,
    [],
    {},
    [12],
    {"id": 12},
    "",
    "\x00",
    -1,
    0,
]


@pytest.mark.parametrize("value", ODD_IDS, ids=[repr(v)[:30] for v in ODD_IDS])
@pytest.mark.parametrize(
    ("call", "field", "body"),
    [
        ("queryDetail", "keyId", {}),
        ("cancel", "id", {"type": 1}),
        ("cancel", "id", {"type": 2}),
        ("cancel", "id", {"type": 3}),
        ("cancel", "type", {"id": 12}),
        ("queryPage", "current", {"size": 10, "params": WINDOW}),
        ("queryPage", "size", {"current": 1, "params": WINDOW}),
        ("queryPage", "taskName", {"current": 1, "size": 10, "params": WINDOW}),
    ],
)
def test_an_odd_number_is_a_parameter_exception_or_an_answer_never_a_500(
    client, call, field, body, value
):
    task = create_task([Status.PENDING], key_id=12)
    if field == "taskName":
        body = {**body, "params": {**WINDOW, "taskName": value}}
    else:
        body = {**body, field: value}

    response = post_raw(client, call, json.dumps(body))

    assert response.status_code == 200
    answer = response.json()
    assert answer["code"] in (0, -22)
    if answer["code"] == -22:
        assert answer["msg"].startswith("Parameter exception")
    task.refresh_from_db()
    if not (call == "cancel" and answer["code"] == 0):
        assert task.status == Status.PENDING


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"null",
        b"42",
        b'"text"',
        b"[]",
        b"\xff\xfe",
        b'{"keyId": NaN}',
        b'{"keyId": Infinity}',
        b'{"keyId": -Infinity}',
        b'{"keyId": 1' + b"0" * 5000 + b"}",
        b'{"keyId": 12, "keyId": 13}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"keyId": 12}' + b" " * 2_000_000,
        b'{"keyId": "' + b"9" * 1_000_000 + b'"}',
    ],
    ids=lambda raw: repr(raw[:20]),
)
@pytest.mark.parametrize("call", ["queryPage", "queryDetail", "cancel"])
def test_a_malformed_body_is_a_parameter_exception_never_a_500(client, call, raw):
    create_task([Status.PENDING], key_id=12)

    response = post_raw(client, call, raw)

    assert response.status_code == 200
    assert response.json()["code"] in (0, -22)
    assert SandboxTask.objects.get(key_id=12).status == Status.PENDING


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_a_wrong_content_type_is_read_as_the_body_it_carries(client, content_type):
    create_task([Status.PENDING], key_id=12)

    response = post_raw(client, "queryDetail", json.dumps({"keyId": 12}), content_type)

    assert response.status_code == 200
    assert response.json()["code"] in (0, -22)


@pytest.mark.parametrize(
    "params",
    [
        None,
        [],
        "x",
        {"strTime": 1, "endTime": 2},
        {"strTime": None, "endTime": None},
        {**WINDOW, "strTime": "0000-01-01 00:00:00"},
        {**WINDOW, "endTime": "9999-12-31 23:59:59"},
        {"strTime": "0001-01-01 00:00:00", "endTime": "9999-12-31 23:59:59"},
        {**WINDOW, "taskName": {"nested": ["junk"]}},
        {**WINDOW, "taskName": "%"},
        {**WINDOW, "taskName": "\x00"},
        {**WINDOW, "taskName": "x" * 100_000},
        {**WINDOW, "taskName": "9" * 5_000},
        {**WINDOW, "taskName": "9223372036854775808"},
        {**WINDOW, "taskName": "²"},
    ],
)
def test_odd_query_page_params_are_a_parameter_exception_or_a_page(client, params):
    create_task([Status.PENDING], key_id=12)

    response = post_raw(
        client, "queryPage", json.dumps({"current": 1, "size": 10, "params": params})
    )

    assert response.status_code == 200
    assert response.json()["code"] in (0, -22)


def test_a_page_beyond_the_last_is_empty(client):
    create_task([Status.PENDING], key_id=12)

    for current in [10**6, 2**62, HUGE]:
        response = post_raw(
            client, "queryPage", json.dumps({"current": current, "size": 100, "params": WINDOW})
        )
        assert response.status_code == 200
        assert response.json()["code"] in (0, -22)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Api-Key": KEY, "Timestamp": "", "Sign": ""},
        {"Api-Key": "ключ", "Timestamp": "1", "Sign": "x"},
        {"Api-Key": KEY, "Timestamp": str(HUGE), "Sign": "x"},
        {"Api-Key": KEY, "Timestamp": "1e9", "Sign": "0" * 32},
        {"Api-Key": KEY, "Timestamp": "nan", "Sign": "é"},
    ],
)
def test_odd_auth_headers_are_refused_in_the_envelope(client, headers):
    response = post_raw(client, "queryDetail", json.dumps({"keyId": 12}), headers=headers)

    assert response.status_code == 200
    assert response.json()["code"] in (-1, -16)


def test_a_signed_timestamp_beyond_any_clock_is_a_skew_refusal(client):
    response = post_raw(
        client, "queryDetail", json.dumps({"keyId": 12}), headers=signed_headers(HUGE)
    )

    assert response.status_code == 200
    assert response.json()["code"] == -16


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"type": 1, "id": str(HUGE)}),
        json.dumps({"type": 1, "id": 12, "note": "a\x00b"}),
        '{"type": 1, "id": NaN}',
        "[" * 100_000,
    ],
    ids=["id beyond a long", "NUL", "NaN", "deep"],
)
def test_a_refused_body_is_answered_and_logged_on_every_database(client, raw):
    task = create_task([Status.PENDING], key_id=12)

    response = post_raw(client, "cancel", raw)

    assert response.json()["code"] == -22
    call = SandboxCall.objects.get()
    assert (call.call, call.code) == ("cancel", -22)
    task.refresh_from_db()
    assert task.status == Status.PENDING
