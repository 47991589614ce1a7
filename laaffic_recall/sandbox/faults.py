"""Fault injection: which faults apply to a request, and the answers they produce.

Faults come from two places, both read on every request: ``LAAFFIC_SANDBOX["FAULTS"]``
(fixed for the process, handy in tests) and ``SandboxFault`` rows (switchable from the
admin or a test while a server runs in another process or thread; newest first).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import F, Q
from django.http import HttpResponse

from .conf import sandbox_settings
from .models import CALL_NAMES, FaultKind, FaultWhen, SandboxFault

# Patched by tests to observe a latency without timing it.
sleep = time.sleep

BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
GATEWAY_TIMEOUT_HTML = BAD_GATEWAY_HTML.replace("502 Bad Gateway", "504 Gateway Time-out")
DEFAULT_FAULT_CODE = -18
DEFAULT_FAULT_MESSAGE = "port program unusual"


@dataclass(frozen=True)
class Fault:
    """One fault as the request handler sees it, whatever its source."""

    kind: str
    calls: frozenset[str] = frozenset()
    ids: frozenset[int] = frozenset()
    seconds: float | None = None
    when: str = FaultWhen.AFTER
    code: int | None = None
    message: str = ""
    pk: int | None = None
    # A model fault with a "remaining" count, decremented each time it fires.
    limited: bool = False

    def matches(self, call: str, target: int | None) -> bool:
        if self.calls and call not in self.calls:
            return False
        return not self.ids or (target is not None and target in self.ids)


def _split(value: str | Iterable | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [str(item).strip() for item in items if str(item).strip()]


def parse_fault(spec: dict, pk: int | None = None, limited: bool = False) -> Fault:
    """A fault from a settings dict or a model's fields; raises ValueError when malformed."""
    kind = spec.get("kind")
    if kind not in FaultKind.values:
        raise ValueError(f"Unknown sandbox fault kind {kind!r}: use one of {FaultKind.values}.")
    calls = frozenset(_split(spec.get("calls")))
    unknown = calls - set(CALL_NAMES)
    if unknown:
        raise ValueError(f"Unknown call names in a sandbox fault: {sorted(unknown)}.")
    when = spec.get("when") or FaultWhen.AFTER
    if when not in FaultWhen.values:
        raise ValueError(f"Sandbox fault 'when' must be one of {FaultWhen.values}.")
    seconds = spec.get("seconds")
    code = spec.get("code")
    return Fault(
        kind=kind,
        calls=calls,
        ids=frozenset(int(i) for i in _split(spec.get("ids"))),
        seconds=None if seconds is None else float(seconds),
        when=when,
        code=None if code is None else int(code),
        message=str(spec.get("message") or ""),
        pk=pk,
        limited=limited,
    )


def configured_faults() -> list[Fault]:
    """Every enabled fault: model rows first (newest first), then the settings' list."""
    rows = SandboxFault.objects.filter(enabled=True).filter(
        Q(remaining__isnull=True) | Q(remaining__gt=0)
    )
    faults = []
    for row in rows:
        try:
            faults.append(
                parse_fault(
                    {
                        "kind": row.kind,
                        "calls": row.calls,
                        "ids": row.ids,
                        "seconds": row.seconds,
                        "when": row.when,
                        "code": row.code,
                        "message": row.message,
                    },
                    pk=row.pk,
                    limited=row.remaining is not None,
                )
            )
        except ValueError:
            continue  # a half-edited row in the admin must not break the API
    faults.extend(parse_fault(spec) for spec in sandbox_settings.FAULTS or [])
    return faults


def _consume(fault: Fault) -> bool:
    """Count one firing of a model fault; False when another request took the last one."""
    if not fault.limited:
        return True
    if fault.pk is None:  # only a model row counts its firings
        return False
    rows = SandboxFault.objects.filter(pk=fault.pk, remaining__gt=0)
    return bool(rows.update(remaining=F("remaining") - 1))


@dataclass(frozen=True)
class Plan:
    """What the faults do to one request: a latency, and at most one answer-changing fault."""

    latency: float = 0.0
    fault: Fault | None = None


def plan_for(call: str, target: int | None) -> Plan:
    latency = 0.0
    chosen = None
    for fault in configured_faults():
        if not fault.matches(call, target):
            continue
        if fault.kind == FaultKind.LATENCY:
            if _consume(fault):
                latency += fault.seconds or 0.0
        elif chosen is None and _consume(fault):
            chosen = fault
    return Plan(latency=latency, fault=chosen)


def hold(seconds: float) -> None:
    """Sleep without holding a database connection (a held one would block test teardown)."""
    if seconds <= 0:
        return
    if not connection.in_atomic_block:
        connection.close()
    sleep(seconds)


def timeout_seconds(fault: Fault) -> float:
    return fault.seconds if fault.seconds is not None else sandbox_settings.TIMEOUT_SECONDS


def fault_response(fault: Fault) -> HttpResponse:
    """The answer a 502, empty or timeout fault puts in place of the real one."""
    if fault.kind == FaultKind.HTML_502:
        return HttpResponse(BAD_GATEWAY_HTML, status=502, content_type="text/html")
    if fault.kind == FaultKind.EMPTY:
        return HttpResponse(b"", status=200, content_type="application/json;charset=UTF-8")
    if fault.kind == FaultKind.TIMEOUT:
        return HttpResponse(GATEWAY_TIMEOUT_HTML, status=504, content_type="text/html")
    raise ValueError(f"a {fault.kind} fault does not replace the answer")
