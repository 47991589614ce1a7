"""The three recall-flow calls: validate a request body and build the ``data`` answer.

Every problem with a body is a ``Refusal`` with -22 ("parameter exception"), as the vendor
documents. Wire messages are the vendor's, in English, not the site's translated text.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from . import state
from .conf import sandbox_settings
from .models import SandboxNode, SandboxTask
from .state import parameter_error

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TIME_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
MAX_PAGE_SIZE = 100
# At most 20 digits: a Java long has 19, and int() of a very long string is slow or refused.
INTEGER = re.compile(r"[+-]?[0-9]{1,20}")
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def remote_tz() -> ZoneInfo:
    return ZoneInfo(str(sandbox_settings.TIMEZONE))


def format_time(value: datetime) -> str:
    if timezone.is_naive(value):  # stored under USE_TZ = False: TIME_ZONE's wall clock
        value = timezone.make_aware(value)
    return timezone.localtime(value, remote_tz()).strftime(TIME_FORMAT)


def parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str) or not TIME_PATTERN.match(value):
        raise parameter_error(f"{name} must be a time like 2024-05-18 00:00:00")
    try:
        naive = datetime.strptime(value, TIME_FORMAT)
    except ValueError:
        raise parameter_error(f"{name} is not a valid time") from None
    aware = timezone.make_aware(naive, remote_tz())
    return aware if settings.USE_TZ else timezone.make_naive(aware)


def required(body: dict, name: str) -> Any:
    if name not in body or body[name] is None:
        raise parameter_error(f"{name} is required")
    return body[name]


def as_int(value: Any, name: str) -> int:
    """An integer field as a Java backend reads it: a number or a numeric string (ASCII
    digits: ``str.isdigit()`` admits "²"), within a Java ``long``."""
    number = None
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None:
        raise parameter_error(f"{name} must be an integer")
    if not LONG_MIN <= number <= LONG_MAX:
        raise parameter_error(f"{name} is out of range")
    return number


def target_id(call: str, body: Any) -> int | None:
    """The id a request names, for id-specific faults (None when it names none)."""
    if not isinstance(body, dict):
        return None
    if call == "queryDetail":
        value = body.get("keyId")
    elif call == "cancel":
        value = body.get("id")
    else:
        params = body.get("params")
        value = params.get("taskName") if isinstance(params, dict) else None
    try:
        return as_int(value, "id")
    except state.Refusal:
        return None


def task_record(task: SandboxTask) -> dict:
    return {
        "keyId": task.key_id,
        "taskId": task.task_id,
        "taskName": task.task_name,
        "createTime": format_time(task.create_time),
        "recallType": task.recall_type,
        "recallInterval": task.recall_interval,
        "recallNum": task.recall_num,
        "finishNum": task.finish_num,
        "status": task.status,
    }


def node_record(node: SandboxNode, family: str) -> dict:
    record: dict[str, Any] = {
        "keyId": node.key_id,
        "taskId": node.group_task_id,
        "nodeStatus": node.status,
        "scriptId": node.script_id,
    }
    if family == "ivr":
        # The IVR family's nodes carry the voice settings of each round.
        record.update(
            {
                "source": 1,
                "voiceFileId": None,
                "uploadName": None,
                "text": "Hello, this is a reminder about your appointment.",
                "lan": "en-US",
                "speakingRate": 1.0,
                "ssmlGender": "FEMALE",
                "accent": None,
                "hangUpSms": 0,
                "smsContent": None,
            }
        )
    return record


def query_page(body: dict, family: str) -> dict:
    current = as_int(required(body, "current"), "current")
    size = as_int(required(body, "size"), "size")
    if current < 1:
        raise parameter_error("current must be 1 or more")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise parameter_error(f"size must be between 1 and {MAX_PAGE_SIZE}")
    params = required(body, "params")
    if not isinstance(params, dict):
        raise parameter_error("params must be an object")
    start = parse_time(required(params, "strTime"), "strTime")
    end = parse_time(required(params, "endTime"), "endTime")
    if start > end:
        raise parameter_error("strTime is after endTime")
    tasks = SandboxTask.objects.filter(create_time__gte=start, create_time__lte=end)
    name = params.get("taskName")
    if name not in (None, ""):
        if not isinstance(name, str | int) or isinstance(name, bool):
            raise parameter_error("taskName must be a string")
        name = str(name).strip()
        match = Q(task_name__icontains=name)
        if name.isascii() and name.isdigit() and len(name) <= 19 and int(name) <= LONG_MAX:
            match |= Q(task_id=int(name))
        tasks = tasks.filter(match)
    total = tasks.count()
    offset = (current - 1) * size
    records = []
    if offset < total:  # a page far past the last is empty, and no database slices that far
        ordered = tasks.order_by("-create_time", "-key_id")
        records = [task_record(t) for t in ordered[offset:][:size]]
    return {
        "records": records,
        "total": total,
        "size": size,
        "current": current,
        "orders": [],
        "searchCount": True,
        "pages": math.ceil(total / size),
    }


def query_detail(body: dict, family: str) -> dict:
    key_id = as_int(required(body, "keyId"), "keyId")
    task = SandboxTask.objects.filter(key_id=key_id).first()
    if task is None:
        raise parameter_error(f"recall task {key_id} does not exist")
    return {
        "keyId": task.key_id,
        "recallInterval": task.recall_interval,
        "recallNum": task.recall_num,
        "recallType": task.recall_type,
        "status": task.status,
        "nodeList": [node_record(n, family) for n in task.nodes.order_by("position")],
        # The vendor's detail answer carries these paging keys too.
        "total": 0,
        "size": 10,
        "current": 1,
        "pages": 0,
        "searchCount": True,
    }


def cancel(body: dict, family: str) -> None:
    cancel_type = as_int(required(body, "type"), "type")
    if cancel_type not in (1, 2, 3):
        raise parameter_error(f"unknown cancel type {cancel_type}")
    state.cancel(cancel_type, as_int(required(body, "id"), "id"))
    return None


CALLS = {"queryPage": query_page, "queryDetail": query_detail, "cancel": cancel}
