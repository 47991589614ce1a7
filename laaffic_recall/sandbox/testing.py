"""Helpers for a host project's own tests against the sandbox (no pytest needed).

Typical use with pytest-django's ``live_server``::

    settings.LAAFFIC_RECALL = recall_settings(live_server.url + "/sandbox")
    task = create_task([Status.PENDING, Status.PENDING])
    ...  # exercise your code, which calls LAAFFIC through laaffic_recall
    assert [c.body for c in calls_received("cancel")] == [{"type": 1, "id": task.key_id}]
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .conf import sandbox_settings
from .models import FaultWhen, SandboxCall, SandboxFault, Status
from .seed import create_task, seed
from .views import expected_sign

__all__ = [
    "Status",
    "calls_received",
    "create_task",
    "inject_fault",
    "recall_settings",
    "seed",
    "signed_headers",
]


def recall_settings(base_url: str, *, product: str = "ai_agent", **extra: Any) -> dict:
    """A ``LAAFFIC_RECALL`` dict that points the app at a sandbox served at ``base_url``."""
    return {
        "API_KEY": sandbox_settings.API_KEY,
        "API_SECRET": sandbox_settings.API_SECRET,
        "BASE_URL": base_url,
        "PRODUCT": product,
        "REMOTE_TIMEZONE": sandbox_settings.TIMEZONE,
        **extra,
    }


def signed_headers(
    timestamp: int | str | None = None,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
) -> dict[str, str]:
    """The three auth headers, signed as the vendor expects (defaults: the sandbox's pair)."""
    api_key = sandbox_settings.API_KEY if api_key is None else api_key
    api_secret = sandbox_settings.API_SECRET if api_secret is None else api_secret
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Api-Key": api_key,
        "Timestamp": stamp,
        "Sign": expected_sign(api_key, api_secret, stamp),
    }


def inject_fault(
    kind: str,
    *,
    calls: Iterable[str] = (),
    ids: Iterable[int] = (),
    seconds: float | None = None,
    when: str = FaultWhen.AFTER,
    code: int | None = None,
    message: str = "",
    times: int | None = None,
) -> SandboxFault:
    """Switch a fault on for every server process (a row); ``times`` limits how often it fires."""
    return SandboxFault.objects.create(
        kind=kind,
        calls=",".join(calls),
        ids=",".join(str(i) for i in ids),
        seconds=seconds,
        when=when,
        code=code,
        message=message,
        remaining=times,
    )


def calls_received(call: str | None = None) -> list[SandboxCall]:
    """The requests the sandbox received, oldest first (``call``: only that call)."""
    calls = SandboxCall.objects.order_by("at", "id")
    if call:
        calls = calls.filter(call=call)
    return list(calls)
