"""HTTP face of the sandbox: signature and clock checks, envelopes, faults, call log."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import api, faults
from .conf import ENVELOPES, sandbox_settings
from .models import FaultKind, FaultWhen, SandboxCall
from .state import Refusal, parameter_error

AUTH_ERROR = -1
TIMESTAMP_EXPIRED = -16


def expected_sign(api_key: str, api_secret: str, timestamp: str) -> str:
    """The vendor's ``Sign``: lowercase hex MD5 of key + secret + timestamp, no separators."""
    return hashlib.md5(
        f"{api_key}{api_secret}{timestamp}".encode(), usedforsecurity=False
    ).hexdigest()


def authenticate(request: HttpRequest) -> None:
    """Check ``Api-Key``, ``Sign`` (-1) and the ``Timestamp`` skew (-16), or raise ``Refusal``."""
    key = request.headers.get("Api-Key", "")
    timestamp = request.headers.get("Timestamp", "")
    given = request.headers.get("Sign", "")
    expected_key = str(sandbox_settings.API_KEY)
    if not key or not hmac.compare_digest(key.encode(), expected_key.encode()):
        raise Refusal(AUTH_ERROR, "Authentication failed: unknown Api-Key")
    expected = expected_sign(expected_key, str(sandbox_settings.API_SECRET), timestamp)
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refusal(AUTH_ERROR, "Authentication failed: Sign does not match")
    max_skew = sandbox_settings.MAX_SKEW_SECONDS
    if max_skew is None:
        return
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise Refusal(TIMESTAMP_EXPIRED, "Timestamp expired: not a Unix time in seconds") from None
    if abs(time.time() - sent_at) > max_skew:
        raise Refusal(TIMESTAMP_EXPIRED, "Timestamp expired")


def envelope(code: int, message: str, data: Any) -> dict:
    shape = sandbox_settings.ENVELOPE
    if shape not in ENVELOPES:
        shape = "code"
    if shape == "code":
        return {"code": code, "msg": message, "data": data}
    return {"status": code if shape == "status" else str(code), "reason": message, "data": data}


def json_response(payload: dict) -> HttpResponse:
    return HttpResponse(
        json.dumps(payload, ensure_ascii=False),
        content_type="application/json;charset=UTF-8",
    )


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def parse_body(request: HttpRequest) -> tuple[Any, Refusal | None]:
    # NaN and Infinity are not JSON, and "\u0000" no PostgreSQL text or jsonb column holds
    # (the call log, a name filter); a body nested deeper than the parser's recursion
    # limit is no request either.
    try:
        body = json.loads(request.body.decode("utf-8"), parse_constant=_reject_constant)
        if _has_nul(body):
            return None, parameter_error("the request body contains a NUL character")
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, parameter_error("the request body is not JSON")
    if not isinstance(body, dict):
        return body, parameter_error("the request body must be a JSON object")
    return body, None


def log_call(
    family: str, call: str, body: Any, status: int, code: int | None, message: str, fault: str
) -> None:
    if not sandbox_settings.LOG_CALLS:
        return
    SandboxCall.objects.create(
        family=family,
        call=call,
        body=body if isinstance(body, dict | list) else None,
        http_status=status,
        code=code,
        message=message[:255],
        fault=fault,
    )


@csrf_exempt
@require_POST
def endpoint(request: HttpRequest, family: str, call: str) -> HttpResponse:
    """One recall-flow call (``call`` in queryPage, queryDetail, cancel) of either family."""
    body, body_error = parse_body(request)
    plan = faults.plan_for(call, api.target_id(call, body))
    fault = plan.fault
    if plan.latency:
        faults.hold(plan.latency)

    if fault is not None and fault.when == FaultWhen.BEFORE:
        return answer_fault(fault, family, call, body, None)

    try:
        authenticate(request)
        if body_error is not None:
            raise body_error
        code, message, data = 0, "success", api.CALLS[call](body, family)
    except Refusal as refusal:
        code, message, data = refusal.code, refusal.message, None

    if fault is not None:
        return answer_fault(fault, family, call, body, envelope(code, message, data))
    log_call(family, call, body, 200, code, message, "")
    return json_response(envelope(code, message, data))


def answer_fault(
    fault: faults.Fault, family: str, call: str, body: Any, real: dict | None
) -> HttpResponse:
    """Answer with a fault; ``real`` is the answer the call earned (None when it never ran)."""
    if fault.kind == FaultKind.CODE:
        code = fault.code if fault.code is not None else faults.DEFAULT_FAULT_CODE
        message = fault.message or faults.DEFAULT_FAULT_MESSAGE
        log_call(family, call, body, 200, code, message, fault.kind)
        return json_response(envelope(code, message, None))
    if fault.kind == FaultKind.TIMEOUT:
        log_call(family, call, body, 504 if real is None else 200, None, "", fault.kind)
        faults.hold(faults.timeout_seconds(fault))
        return faults.fault_response(fault) if real is None else json_response(real)
    response = faults.fault_response(fault)
    log_call(family, call, body, response.status_code, None, "", fault.kind)
    return response
