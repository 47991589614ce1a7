"""The audit CSV as an agent opens it in Excel or LibreOffice: read back cell for cell."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from laaffic_recall.admin.attempts import CSV_EXCERPT_CHARS
from laaffic_recall.models import CancelAttempt, CancelType, NotSent, Outcome
from tests.support.clock import stop_clock
from tests.support.mirror import make_nodes, make_task

pytestmark = pytest.mark.django_db

LIST = reverse("admin:laaffic_recall_cancelattempt_changelist")

HEADER_SHANGHAI = [
    "Attempt",
    "Submission",
    "Started (Asia/Shanghai)",
    "Finished (Asia/Shanghai)",
    "Duration (seconds)",
    "User",
    "Client IP",
    "Cancel type",
    "Id sent",
    "Recall key",
    "Task name",
    "Parent task id",
    "Node key",
    "Request body",
    "HTTP status",
    "Response code",
    "Response message",
    "Outcome",
    "Outcome as shown",
    "Confirmed by re-read",
    "Mirror confirmed",
    "Not sent by this app because",
    "Blocked by attempt",
    "Error detail",
    "Reason",
]

PROXY_PAGE = (
    "<html><head><title>502</title><style>body { color: red }</style>"
    "<script>alert('x')</script></head><body><h1>502 Bad Gateway</h1>"
    "<p>nginx &amp; friends</p></body></html>"
)


def download(client, attempts) -> bytes:
    response = client.post(
        LIST,
        {"action": "download_csv", "index": 0, "_selected_action": [a.pk for a in attempts]},
    )
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.fixture
def two_attempts(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    task = make_task(131142, task_name="春节回访 Café", parent_task_id=2024051800007)
    (node,) = make_nodes(task, 1, first_key=5501)
    started = datetime(2026, 12, 2, 0, 36, 45, 94620, tzinfo=UTC)
    node_attempt = CancelAttempt.objects.create(
        cancel_type=CancelType.NODE,
        target_id=5501,
        task=task,
        task_key_id=131142,
        node=node,
        outcome=Outcome.SUCCEEDED,
        username="李雷",
        client_ip="10.0.0.7",
        started_at=started,
        finished_at=started + timedelta(seconds=1, microseconds=250000),
        duration=timedelta(seconds=1, microseconds=250000),
        request_body={"type": 3, "id": 5501},
        http_status=200,
        response_code=0,
        response_message="成功",
        confirmed_by_reread=True,
        mirror_confirmed=False,
        reason="客户要求 ticket 4711",
    )
    failed = CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=131142,
        task=task,
        task_key_id=131142,
        outcome=Outcome.FAILED,
        username="ann",
        started_at=started + timedelta(hours=20),
        http_status=502,
        error_detail=PROXY_PAGE,
    )
    return node_attempt, failed


def test_every_cell_reads_back_as_a_spreadsheet_shows_it(auditor_client, two_attempts):
    body = download(auditor_client, two_attempts)

    assert body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    header, first, second = rows
    assert header == HEADER_SHANGHAI
    node_attempt, failed = two_attempts
    # JSON as stored: PostgreSQL's jsonb keeps keys in its own order.
    assert json.loads(first[13]) == {"type": 3, "id": 5501}
    first[13] = "(request body)"
    assert first == [
        str(node_attempt.pk),
        str(node_attempt.correlation_id),
        "2026-12-02 08:36:45",  # Shanghai is UTC+8; no microseconds, no offset
        "2026-12-02 08:36:46",
        "1.25",
        "李雷",
        "10.0.0.7",
        str(CancelType.NODE.label),
        "5501",
        "131142",
        "春节回访 Café",
        "2024051800007",
        "5501",
        "(request body)",
        "200",
        "0",
        "成功",
        str(Outcome.SUCCEEDED.label),
        str(Outcome.SUCCEEDED.label),
        "Yes",
        "No",
        "",
        "",
        "",
        "客户要求 ticket 4711",
    ]
    assert second == [
        str(failed.pk),
        str(failed.correlation_id),
        "2026-12-03 04:36:45",
        "",
        "",
        "ann",
        "",
        str(CancelType.TASK.label),
        "131142",
        "131142",
        "春节回访 Café",
        "2024051800007",
        "",
        "",
        "502",
        "",
        "",
        str(Outcome.FAILED.label),
        str(Outcome.FAILED.label),
        "No",
        "",  # never re-read: not known, so blank rather than No
        "",
        "",
        "502 502 Bad Gateway nginx & friends",
        "",
    ]


def test_headers_and_yes_no_follow_the_agents_language(auditor_client, two_attempts):
    response = auditor_client.post(
        LIST,
        {"action": "download_csv", "index": 0, "_selected_action": [a.pk for a in two_attempts]},
        headers={"accept-language": "zh-Hans"},
    )
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    header, first, _ = list(csv.reader(io.StringIO(body, newline="")))
    assert header[0] == "记录编号" and header[2] == "开始时间（Asia/Shanghai）"
    assert header[10] == "任务名称" and header[11] == "父任务 ID"
    assert first[19] == "是" and first[20] == "否"


@pytest.mark.parametrize(
    ("language", "why"),
    [
        ("en", "another cancel of the task was in flight"),
        ("zh-Hans", "此任务的另一个取消正在处理中"),
    ],
)
def test_an_attempt_refused_here_says_why_and_which_attempt_blocked_it(
    auditor_client, language, why
):
    attempt = CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=12,
        outcome=Outcome.REFUSED,
        not_sent=NotSent.IN_FLIGHT,
        blocked_by=4711,
    )
    response = auditor_client.post(
        LIST,
        {"action": "download_csv", "index": 0, "_selected_action": [attempt.pk]},
        headers={"accept-language": language},
    )
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    _header, row = list(csv.reader(io.StringIO(body, newline="")))
    assert row[21:24] == [why, "4711", ""]


def test_a_long_html_answer_becomes_a_short_plain_text_excerpt(auditor_client):
    attempt = CancelAttempt.objects.create(
        cancel_type=CancelType.TASK,
        target_id=12,
        outcome=Outcome.UNKNOWN,
        response_message="<p>" + "word " * 200 + "</p>",
        error_detail="a < b and c > d",
    )

    _header, row = csv.reader(io.StringIO(download(auditor_client, [attempt]).decode("utf-8-sig")))

    message, detail = row[16], row[23]
    assert message.startswith("word word") and message.endswith("\u2026")
    assert len(message) == CSV_EXCERPT_CHARS and "<" not in message
    assert detail == "a < b and c > d"  # not markup: untouched


def test_a_row_without_task_or_node_and_a_stale_pending_row(auditor_client):
    """Blank task and node cells, and a pending row left in flight too long shown as
    unknown beside its stored outcome, as on the attempt's page."""
    stale = CancelAttempt.objects.create(
        cancel_type=CancelType.PARENT,
        target_id=77,
        outcome=Outcome.PENDING,
        username="=cmd",
        started_at=datetime.now(UTC) - timedelta(hours=2),
        response_message="-1 +1",
        request_body=-5,
    )
    fresh = CancelAttempt.objects.create(
        cancel_type=CancelType.PARENT, target_id=78, outcome=Outcome.PENDING, reason="@x"
    )
    body = download(auditor_client, [stale, fresh]).decode("utf-8-sig")
    _, first, second = list(csv.reader(io.StringIO(body, newline="")))
    assert first[5] == "'=cmd" and first[16] == "'-1 +1" and first[13] == "'-5"
    assert first[7] == str(CancelType.PARENT.label)
    assert first[9:13] == ["", "", "", ""]
    assert first[17:19] == [str(Outcome.PENDING.label), str(Outcome.UNKNOWN.label)]
    assert second[17:19] == [str(Outcome.PENDING.label), str(Outcome.PENDING.label)]
    assert second[24] == "'@x" and second[3] == "" and second[4] == ""


@pytest.mark.parametrize("use_tz", [True, False], ids=["USE_TZ", "naive"])
def test_the_file_is_named_by_the_time_its_cells_are_written_in(
    auditor_client, settings, monkeypatch, use_tz
):
    """Half an hour into New Year's Day in Shanghai (still December 31st in UTC): the file
    is named by the site's date and time, as its Started cell is written."""
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.USE_TZ = use_tz
    utc = datetime(2025, 12, 31, 16, 30, 5, tzinfo=UTC)
    now = utc if use_tz else datetime(2026, 1, 1, 0, 30, 5)  # naive: the site's wall clock
    stop_clock(monkeypatch, now)
    row = CancelAttempt.objects.create(
        cancel_type=CancelType.TASK, target_id=12, outcome=Outcome.SUCCEEDED, started_at=now
    )

    response = auditor_client.post(
        LIST, {"action": "download_csv", "index": 0, "_selected_action": [row.pk]}
    )

    assert response["Content-Disposition"] == (
        'attachment; filename="cancel-attempts-20260101-003005.csv"'
    )
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    _, cells = list(csv.reader(io.StringIO(body, newline="")))
    assert cells[2] == "2026-01-01 00:30:05"
