"""The LAAFFIC client: signing, envelopes, codes, and how every fault is classified."""

from __future__ import annotations

import json
import logging
import socket
import ssl
from datetime import datetime

import pytest
import requests
import responses
from responses import matchers

from laaffic_recall.client import (
    ApiError,
    ConfigurationError,
    LaafficClient,
    LaafficError,
    OutcomeUnknownError,
    ProtocolError,
    TransportError,
)
from laaffic_recall.client.http import new_session
from laaffic_recall.client.wire import excerpt, parse_code, sign
from laaffic_recall.conf import get_client
from tests.support.vendor import KEY, SECRET, TEST_SETTINGS, api_url, tls_error

BASE = TEST_SETTINGS["BASE_URL"]
NOW = 1_700_000_000


def make_client(**kwargs) -> LaafficClient:
    options = {
        "api_key": KEY,
        "api_secret": SECRET,
        "base_url": BASE,
        "read_retries": 2,
        "retry_backoff": 0,
        "clock": lambda: NOW,
        "sleep": lambda s: None,
    }
    options.update(kwargs)
    return LaafficClient(**options)


def signed_headers(timestamp: int = NOW) -> dict[str, str]:
    return {
        "Api-Key": KEY,
        "Timestamp": str(timestamp),
        "Sign": sign(KEY, SECRET, str(timestamp)),
        "Content-Type": "application/json;charset=UTF-8",
    }


def detail_payload(key_id: int = 12) -> dict:
    return {
        "keyId": key_id,
        "recallInterval": 30,
        "recallNum": 3,
        "recallType": 1,
        "status": 1,
        "total": 0,
        "searchCount": True,
        "nodeList": [
            {"keyId": 101, "taskId": 9001, "nodeStatus": 2, "scriptId": 77},
            {"keyId": 102, "taskId": 9002, "nodeStatus": 0, "scriptId": None, "lan": "en"},
        ],
    }


# --------------------------------------------------------------------------- signing


def test_sign_matches_vendor_test_vector():
    assert sign("bDqJFiq9", "7bz1lzh9", "1630468800") == "05d7a50893e22a5c4bb3216ae3396c7c"


def test_every_request_is_signed_with_headers_and_exact_json_body(mocked_api):
    mocked_api.post(
        api_url("queryDetail"),
        json={"code": 0, "msg": "success", "data": detail_payload()},
        match=[
            matchers.header_matcher(signed_headers()),
            matchers.json_params_matcher({"keyId": 12}, strict_match=True),
        ],
    )
    detail = make_client().query_detail(12)
    assert detail.key_id == 12


def test_timestamp_is_taken_per_request(mocked_api):
    ticks = iter([NOW, NOW + 7])
    client = make_client(clock=lambda: next(ticks))
    for ts in (NOW, NOW + 7):
        mocked_api.post(
            api_url("queryDetail"),
            json={"code": 0, "data": detail_payload()},
            match=[matchers.header_matcher(signed_headers(ts))],
        )
    client.query_detail(12)
    client.query_detail(12)
    sent = [c.request.headers["Timestamp"] for c in mocked_api.calls]
    assert sent == [str(NOW), str(NOW + 7)]


def test_secret_is_never_sent(mocked_api):
    mocked_api.post(api_url("queryDetail"), json={"code": 0, "data": detail_payload()})
    make_client().query_detail(12)
    request = mocked_api.calls[0].request
    assert SECRET not in json.dumps(dict(request.headers))
    assert SECRET.encode() not in request.body


def test_query_page_body_and_parsing(mocked_api):
    mocked_api.post(
        api_url("queryPage"),
        json={
            "status": "0",
            "reason": "success",
            "data": {
                "total": "2",
                "size": 100,
                "current": 1,
                "pages": 1,
                "records": [
                    {
                        "keyId": 12,
                        "taskId": "2024051800123",
                        "taskName": "May promo",
                        "createTime": "2024-05-18 09:30:00",
                        "recallType": 0,
                        "recallInterval": 15,
                        "recallNum": 3,
                        "finishNum": 1,
                        "status": "1",
                        "extra": "kept",
                    }
                ],
            },
        },
        match=[
            matchers.json_params_matcher(
                {
                    "current": 1,
                    "size": 100,
                    "params": {
                        "strTime": "2024-05-18 00:00:00",
                        "endTime": "2024-05-19 23:59:59",
                        "taskName": "May promo",
                    },
                },
                strict_match=True,
            )
        ],
    )
    page = make_client().query_page(
        1, 100, datetime(2024, 5, 18), datetime(2024, 5, 19, 23, 59, 59), task_name="May promo"
    )
    assert (page.total, page.pages, page.current) == (2, 1, 1)
    record = page.records[0]
    assert record.key_id == 12
    assert record.task_id == 2024051800123
    assert record.create_time == datetime(2024, 5, 18, 9, 30)
    assert record.status == 1
    assert record.raw["extra"] == "kept"


def test_query_page_without_task_name_omits_it(mocked_api):
    mocked_api.post(
        api_url("queryPage"),
        json={"code": 0, "data": {"records": []}},
        match=[
            matchers.json_params_matcher(
                {
                    "current": 2,
                    "size": 50,
                    "params": {
                        "strTime": "2024-05-18 00:00:00",
                        "endTime": "2024-05-18 12:00:00",
                    },
                },
                strict_match=True,
            )
        ],
    )
    page = make_client().query_page(2, 50, datetime(2024, 5, 18), datetime(2024, 5, 18, 12))
    assert page.records == []


def test_detail_keeps_whole_nodes_and_ignores_unknown_keys(mocked_api):
    mocked_api.post(api_url("queryDetail"), json={"code": 0, "data": detail_payload()})
    detail = make_client().query_detail(12)
    assert [n.key_id for n in detail.nodes] == [101, 102]
    assert [n.status for n in detail.nodes] == [2, 0]
    assert detail.nodes[0].script_id == "77"
    assert detail.nodes[1].script_id is None
    assert detail.nodes[1].raw["lan"] == "en"
    assert detail.raw["searchCount"] is True


def test_ivr_product_uses_v3_paths(mocked_api):
    mocked_api.post(
        api_url("cancel", product="ivr"),
        json={"code": 0, "msg": "success", "data": None},
        match=[matchers.json_params_matcher({"type": 3, "id": 102}, strict_match=True)],
    )
    result = make_client(product="ivr").cancel(3, 102)
    assert result.code == 0
    assert mocked_api.calls[0].request.url.endswith("/v3/voice/recallFlow/cancel")


# --------------------------------------------------------------------------- envelopes and codes


@pytest.mark.parametrize(
    "body",
    [
        {"code": 0, "msg": "success", "data": None},
        {"code": "0", "msg": "success", "data": None},
        {"status": "0", "reason": "success", "data": None},
        {"status": 0, "reason": "success", "data": None},
    ],
)
def test_both_envelopes_mean_success(mocked_api, body):
    mocked_api.post(api_url("cancel"), json=body)
    result = make_client().cancel(1, 12)
    assert result.code == 0
    assert result.message == "success"
    assert result.request_body == {"type": 1, "id": 12}


@pytest.mark.parametrize(
    ("code", "hint_words"),
    [
        (-1, "key and secret"),
        (-2, "allow-list"),
        (-16, "clock"),
        (-18, "internal failure"),
        (-22, "parameters"),
    ],
)
@pytest.mark.parametrize("shape", ["code", "status"])
def test_documented_codes_are_refusals_with_hints(mocked_api, code, hint_words, shape):
    body = (
        {"code": code, "msg": "vendor says no", "data": None}
        if shape == "code"
        else {"status": str(code), "reason": "vendor says no", "data": None}
    )
    mocked_api.post(api_url("cancel"), json=body)
    with pytest.raises(ApiError) as info:
        make_client().cancel(1, 12)
    assert info.value.code == code
    assert info.value.message == "vendor says no"
    assert hint_words in info.value.hint
    assert hint_words in str(info.value)
    assert len(mocked_api.calls) == 1


def test_refusal_on_read_is_not_retried(mocked_api):
    mocked_api.post(api_url("queryDetail"), json={"code": -16, "msg": "timestamp expired"})
    with pytest.raises(ApiError) as info:
        make_client().query_detail(12)
    assert info.value.code == -16
    assert len(mocked_api.calls) == 1


def test_unknown_code_is_kept_verbatim_never_success(mocked_api):
    mocked_api.post(api_url("cancel"), json={"code": -99, "msg": "brand new failure"})
    with pytest.raises(ApiError) as info:
        make_client().cancel(1, 12)
    assert info.value.code == -99
    assert info.value.message == "brand new failure"
    assert info.value.code_name == "unknown code"


@pytest.mark.parametrize(
    "body",
    [
        b'{"msg": "no code at all"}',
        b'{"code": null, "msg": "x"}',
        b'{"code": "zero", "msg": "x"}',
        b'{"code": true, "msg": "x"}',
        b"[0, 1]",
        b"0",
        b'"success"',
        b"",
        b"<html><body>Bad gateway</body></html>",
        b"\xff\xfe\x00 not utf-8",
    ],
)
def test_malformed_2xx_bodies_are_protocol_errors_not_success(mocked_api, body):
    mocked_api.post(api_url("queryDetail"), body=body, status=200)
    with pytest.raises(ProtocolError) as info:
        make_client().query_detail(12)
    assert info.value.http_status == 200
    # Not retried: the server answered, just not in the protocol.
    assert len(mocked_api.calls) == 1


def test_malformed_2xx_on_cancel_is_outcome_unknown(mocked_api):
    mocked_api.post(api_url("cancel"), body="<html>proxy page</html>", status=200)
    with pytest.raises(OutcomeUnknownError) as info:
        make_client().cancel(1, 12)
    assert "proxy page" in info.value.body_excerpt
    assert len(mocked_api.calls) == 1


def test_huge_body_is_capped(mocked_api):
    mocked_api.post(api_url("queryDetail"), body=b"x" * 5000, status=200)
    with pytest.raises(ProtocolError) as info:
        make_client(max_response_bytes=1000).query_detail(12)
    assert "larger than 1000 bytes" in str(info.value)


def test_the_cap_counts_the_whole_body_not_each_64_kib_chunk_read(mocked_api):
    # Read 64 KiB at a time: each chunk is under the cap, the four together are over it.
    mocked_api.post(api_url("queryDetail"), body=b"x" * 200_000, status=200)
    with pytest.raises(ProtocolError) as info:
        make_client(max_response_bytes=100_000).query_detail(12)
    assert "larger than 100000 bytes" in str(info.value)


def test_a_body_of_several_chunks_within_the_cap_is_read_whole(mocked_api):
    payload = {**detail_payload(), "padding": "x" * 150_000}
    mocked_api.post(api_url("queryDetail"), json={"code": 0, "msg": "ok", "data": payload})
    detail = make_client(max_response_bytes=200_000).query_detail(12)
    assert detail.key_id == 12


def test_excerpt_is_short_and_escaped():
    text = excerpt(b"<h1>\x1b[31mhi\n" + b"a" * 1000)
    assert "\x1b" not in text and "\n" not in text
    assert text.endswith("…")
    assert len(text) < 400


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), ("0", 0), ("-16", -16), (-22, -22), (1.0, 1), (None, None), ("x", None), (True, None)],
)
def test_parse_code(value, expected):
    assert parse_code(value) == expected


# --------------------------------------------------------------------------- transport faults


def test_html_502_on_read_is_retried_then_transport_error(mocked_api):
    sleeps = []
    mocked_api.post(api_url("queryDetail"), body="<html>502 Bad Gateway</html>", status=502)
    with pytest.raises(TransportError) as info:
        make_client(retry_backoff=0.5, sleep=sleeps.append).query_detail(12)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert info.value.http_status == 502
    assert "502 Bad Gateway" in info.value.body_excerpt
    assert len(mocked_api.calls) == 3
    assert sleeps == [0.5, 1.0]  # exponential backoff between the three tries


def test_read_recovers_after_a_transient_5xx(mocked_api):
    mocked_api.post(api_url("queryDetail"), body="oops", status=503)
    mocked_api.post(api_url("queryDetail"), json={"code": 0, "data": detail_payload()})
    assert make_client().query_detail(12).key_id == 12
    assert len(mocked_api.calls) == 2


def test_read_timeout_on_read_is_retried_then_transport_error(mocked_api):
    mocked_api.post(api_url("queryPage"), body=requests.ReadTimeout("read timed out"))
    with pytest.raises(TransportError) as info:
        make_client().query_page(1, 100, datetime(2024, 5, 18), datetime(2024, 5, 19))
    assert info.value.sent is True
    assert len(mocked_api.calls) == 3


def test_429_on_read_honours_retry_after_within_bound(mocked_api):
    sleeps = []
    mocked_api.post(api_url("queryDetail"), status=429, headers={"Retry-After": "3"}, body="")
    mocked_api.post(api_url("queryDetail"), json={"code": 0, "data": detail_payload()})
    make_client(sleep=sleeps.append).query_detail(12)
    assert sleeps == [3.0]


def test_429_with_retry_after_beyond_bound_gives_up(mocked_api):
    mocked_api.post(api_url("queryDetail"), status=429, headers={"Retry-After": "3600"}, body="")
    with pytest.raises(TransportError) as info:
        make_client(max_retry_after=10).query_detail(12)
    assert info.value.http_status == 429
    assert len(mocked_api.calls) == 1


def test_429_on_cancel_is_not_retried_and_not_unknown(mocked_api):
    mocked_api.post(api_url("cancel"), status=429, body="slow down")
    with pytest.raises(TransportError) as info:
        make_client().cancel(1, 12)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert info.value.http_status == 429
    assert len(mocked_api.calls) == 1


def test_read_timeout_on_cancel_is_outcome_unknown_and_sent_once(mocked_api):
    mocked_api.post(api_url("cancel"), body=requests.ReadTimeout("read timed out"))
    with pytest.raises(OutcomeUnknownError):
        make_client().cancel(1, 12)
    assert len(mocked_api.calls) == 1


def test_connection_reset_after_sending_on_cancel_is_unknown(mocked_api):
    reset = requests.ConnectionError(
        "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"
    )
    mocked_api.post(api_url("cancel"), body=reset)
    with pytest.raises(OutcomeUnknownError):
        make_client().cancel(1, 12)
    assert len(mocked_api.calls) == 1


def test_html_502_on_cancel_is_unknown_with_status_and_excerpt(mocked_api):
    mocked_api.post(api_url("cancel"), body="<html><h1>502 Bad Gateway</h1></html>", status=502)
    with pytest.raises(OutcomeUnknownError) as info:
        make_client().cancel(3, 102)
    assert info.value.http_status == 502
    assert "502 Bad Gateway" in info.value.body_excerpt
    assert len(mocked_api.calls) == 1


def test_connect_timeout_on_cancel_is_a_failure_not_sent(mocked_api):
    mocked_api.post(api_url("cancel"), body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(TransportError) as info:
        make_client().cancel(1, 12)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert info.value.sent is False
    assert len(mocked_api.calls) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_a_failure_not_sent_over_real_loopback():
    client = make_client(base_url=f"http://127.0.0.1:{_closed_port()}", read_retries=0)
    with pytest.raises(TransportError) as info:
        client.cancel(1, 12)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert info.value.sent is False
    with pytest.raises(TransportError) as info:
        client.query_detail(12)
    assert info.value.sent is False


def test_dns_failure_is_not_sent():
    client = make_client(base_url="http://no-such-host.invalid", read_retries=0)
    with pytest.raises(TransportError) as info:
        client.cancel(1, 12)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert info.value.sent is False


def test_transport_error_is_also_a_requests_exception(mocked_api):
    mocked_api.post(api_url("queryDetail"), body="down", status=500)
    with pytest.raises(requests.RequestException):
        make_client(read_retries=0).query_detail(12)


# --------------------------------------------------------------------------- validation and config


@pytest.mark.parametrize(
    ("cancel_type", "target"), [(0, 1), (4, 1), (1, 0), (1, -5), (1, True), (3, "7")]
)
def test_cancel_rejects_bad_type_or_id_without_a_call(mocked_api, cancel_type, target):
    with pytest.raises(ValueError, match=r"cancel (type|id) must be"):
        make_client().cancel(cancel_type, target)
    assert len(mocked_api.calls) == 0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"api_key": ""}, "API key is not set"),
        ({"api_secret": ""}, "API secret is not set"),
        ({"product": "sms"}, "Unknown LAAFFIC product"),
        ({"base_url": "ftp://api.laaffic.com"}, "not an http(s) URL"),
        ({"base_url": "api.laaffic.com"}, "not an http(s) URL"),
    ],
)
def test_configuration_errors_fail_fast(kwargs, words):
    with pytest.raises(ConfigurationError) as info:
        make_client(**kwargs)
    assert words in str(info.value)


def test_get_client_reads_settings_at_call_time(settings, mocked_api):
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "PRODUCT": "ivr", "BASE_URL": "https://other.test"}
    client = get_client()
    assert client.url("cancel") == "https://other.test/v3/voice/recallFlow/cancel"
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "API_KEY": ""}
    with pytest.raises(ConfigurationError):
        get_client()


def test_timeouts_from_settings_are_always_passed(settings, mocked_api):
    settings.LAAFFIC_RECALL = {**TEST_SETTINGS, "CONNECT_TIMEOUT": 1.5, "READ_TIMEOUT": 7}
    client = get_client()
    seen = {}

    def capture(request):
        seen["timeout"] = request.req_kwargs["timeout"]
        return (200, {}, json.dumps({"code": 0, "data": detail_payload()}))

    mocked_api.add_callback(responses.POST, api_url("queryDetail"), callback=capture)
    client.query_detail(12)
    assert seen["timeout"] == (1.5, 7.0)


# --------------------------------------------------------------------------- secrets


def test_secret_and_sign_absent_from_errors_logs_and_repr(mocked_api, caplog):
    # The bundled site keeps the app's logger at WARNING: lower it too, not only the root.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="laaffic_recall")
    client = make_client(read_retries=1)
    sign_value = sign(KEY, SECRET, str(NOW))
    mocked_api.post(api_url("queryDetail"), body="<html>bad</html>", status=502)
    mocked_api.post(api_url("cancel"), json={"code": -1, "msg": "auth error"})
    mocked_api.post(api_url("queryPage"), body=requests.ReadTimeout("timed out"))
    errors = []
    for call in (
        lambda: client.query_detail(12),
        lambda: client.cancel(1, 12),
        lambda: client.query_page(1, 1, datetime(2024, 1, 1), datetime(2024, 1, 2)),
    ):
        with pytest.raises(LaafficError) as info:
            call()
        errors.append(info.value)
    texts = [str(e) for e in errors] + [repr(e) for e in errors] + [repr(client)]
    texts += [r.getMessage() for r in caplog.records]
    assert caplog.records, "the client should log its calls"
    for text in texts:
        assert SECRET not in text
        assert sign_value not in text


# --------------------------------------------------------------------------- session


PROXY, CA_BUNDLE = "http://proxy.internal:3128", "/etc/ssl/company-ca.pem"


@pytest.mark.parametrize(
    ("environment", "https_proxy", "verify"),
    [  # environment: a variable set to None is unset; https_proxy None: no proxy at all
        pytest.param(
            {
                "HTTPS_PROXY": PROXY,
                "REQUESTS_CA_BUNDLE": CA_BUNDLE,
                "NO_PROXY": None,
                "no_proxy": None,
            },
            PROXY,
            CA_BUNDLE,
            id="proxy and CA bundle",
        ),
        pytest.param(
            {
                "HTTPS_PROXY": PROXY,
                "NO_PROXY": "api.laaffic.com",
                "REQUESTS_CA_BUNDLE": None,
                "CURL_CA_BUNDLE": None,
            },
            None,
            True,
            id="no proxy for the api host",
        ),
    ],
)
def test_session_takes_proxy_and_ca_settings_from_the_environment_once(
    monkeypatch, environment, https_proxy, verify
):
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    session = new_session("https://api.laaffic.com")
    assert session.trust_env is False
    assert session.proxies.get("https") == https_proxy
    assert ("https" in session.proxies) == (https_proxy is not None)
    assert (session.verify, type(session.verify)) == (verify, type(verify))


def test_a_ca_bundle_only_concerns_https(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company-ca.pem")
    assert new_session("http://127.0.0.1:8000/sandbox").verify is True


DETAIL = {"code": 0, "msg": "ok", "data": {"keyId": 12, "status": 1, "nodeList": []}}


def test_a_cookie_laaffic_sets_is_sent_back_on_the_next_call(mocked_api):
    mocked_api.post(
        api_url("queryDetail"), json=DETAIL, headers={"Set-Cookie": "lb=node-2; Path=/"}
    )
    mocked_api.post(api_url("queryDetail"), json=DETAIL)
    client = make_client()

    client.query_detail(12)
    client.query_detail(12)

    first, second = (c.request for c in mocked_api.calls)
    assert "Cookie" not in first.headers
    assert second.headers["Cookie"] == "lb=node-2"
    assert second.headers["Api-Key"] == KEY and second.body == b'{"keyId":12}'


def test_the_sessions_own_headers_are_sent_and_one_set_to_none_is_not(mocked_api):
    mocked_api.post(api_url("queryDetail"), json=DETAIL)
    session = new_session(BASE)
    session.headers.update({"X-Request-Source": "nightly-sync", "User-Agent": None})

    make_client(session=session).query_detail(12)

    (call,) = mocked_api.calls
    assert call.request.headers["X-Request-Source"] == "nightly-sync"
    assert "User-Agent" not in call.request.headers
    assert call.request.headers["Content-Type"] == "application/json;charset=UTF-8"


def test_a_session_with_hooks_of_its_own_still_runs_them(mocked_api):
    mocked_api.post(api_url("queryDetail"), json=DETAIL)
    session, seen = new_session(BASE), []
    session.hooks["response"].append(lambda response, **kwargs: seen.append(response.status_code))

    make_client(session=session).query_detail(12)

    assert seen == [200]


# --------------------------------------------------------------------------- TLS, redirects, codes


def test_certificate_failure_is_not_sent(mocked_api):
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed")
    mocked_api.post(api_url("cancel"), body=tls_error(cert))
    with pytest.raises(TransportError) as info:
        make_client().cancel(1, 12)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert info.value.sent is False


def test_other_tls_failure_on_cancel_may_have_been_sent(mocked_api):
    bad_record = ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] bad record mac")
    mocked_api.post(api_url("cancel"), body=tls_error(bad_record))
    with pytest.raises(OutcomeUnknownError):
        make_client().cancel(1, 12)
    assert len(mocked_api.calls) == 1


def test_redirects_are_not_followed_and_credentials_stay_home(mocked_api):
    mocked_api.post(
        api_url("cancel"),
        status=307,
        headers={"Location": "https://elsewhere.test/collect"},
        body="",
    )
    mocked_api.post("https://elsewhere.test/collect", json={"code": 0, "data": None})
    with pytest.raises(TransportError) as info:
        make_client().cancel(1, 12)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert info.value.http_status == 307
    assert [c.request.url for c in mocked_api.calls] == [api_url("cancel")]


def test_redirect_on_a_read_is_not_retried_or_followed(mocked_api):
    mocked_api.post(
        api_url("queryDetail"), status=302, headers={"Location": "https://x.test/"}, body=""
    )
    with pytest.raises(TransportError) as info:
        make_client().query_detail(12)
    assert info.value.http_status == 302
    assert len(mocked_api.calls) == 1


@pytest.mark.parametrize("value", ["³", "٠", "-٢", "1_000", " ", "0x10", "1.0"])
def test_only_ascii_integers_are_codes(value):
    assert parse_code(value) is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"code": "0", "status": "-1", "msg": "which one?"}',
        rb'{"code": "\u0660", "msg": "arabic-indic zero"}',
        b'{"code": NaN, "msg": "x"}',
        b'{"code": 0, "data": {"keyId": 12, "recallNum": Infinity, "nodeList": []}}',
    ],
)
def test_conflicting_or_exotic_codes_and_constants_are_protocol_errors(mocked_api, body):
    mocked_api.post(api_url("queryDetail"), body=body)
    with pytest.raises(ProtocolError):
        make_client().query_detail(12)


def test_agreeing_code_and_status_are_accepted(mocked_api):
    mocked_api.post(api_url("cancel"), json={"code": 0, "status": "0", "msg": "success"})
    assert make_client().cancel(1, 12).code == 0


@pytest.mark.parametrize("key", [0, -5, "0", None, "abc"])
def test_a_record_without_a_positive_key_is_a_protocol_error(mocked_api, key):
    record = {"keyId": key, "taskId": 1, "status": 0}
    mocked_api.post(api_url("queryPage"), json={"code": 0, "data": {"records": [record]}})
    with pytest.raises(ProtocolError):
        make_client().query_page(1, 100, datetime(2024, 5, 18), datetime(2024, 5, 19))


@pytest.mark.parametrize("task_id", [0, -3, "", None])
def test_a_non_positive_parent_id_is_stored_as_none(mocked_api, task_id):
    record = {"keyId": 12, "taskId": task_id, "status": 0}
    mocked_api.post(api_url("queryPage"), json={"code": 0, "data": {"records": [record]}})
    page = make_client().query_page(1, 100, datetime(2024, 5, 18), datetime(2024, 5, 19))
    assert page.records[0].task_id is None


def test_a_node_without_a_positive_key_is_a_protocol_error(mocked_api):
    payload = detail_payload()
    payload["nodeList"][1]["keyId"] = 0
    mocked_api.post(api_url("queryDetail"), json={"code": 0, "data": payload})
    with pytest.raises(ProtocolError):
        make_client().query_detail(12)


def test_an_html_page_excerpt_is_its_text_without_markup_or_line_breaks():
    page = (
        b"<html>\r\n<head><title>502 Bad Gateway</title><style>h1{color:red}</style></head>\r\n"
        b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>"
        b"\r\n</body>\r\n</html>\r\n" + b"<!-- padding -->" * 100
    )
    text = excerpt(page)
    assert text.startswith("502 Bad Gateway 502 Bad Gateway nginx")
    assert "<" not in text and "\\r" not in text and "\\n" not in text and "color" not in text
    assert len(text) <= 201
