# ruff: noqa: RUF001  (the Chinese wording uses full-width punctuation)
"""An attempt this app refuses or fails itself, sending nothing to LAAFFIC, keeps why as
values (``not_sent``, ``blocked_by``, the error's own text), signed and guarded like the
rest of the row, and is worded when shown, in the reader's language, as not sent by this
app: whatever language its submitter used."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import translation

from laaffic_recall.cancel import CancelTarget, service
from laaffic_recall.cancel.audit import Submission
from laaffic_recall.models import CancelAttempt, CancelType, NotSent, Outcome, RecallTask
from tests.support.audit import finished, message, raw_sql, run_verify
from tests.support.mirror import make_task
from tests.support.vendor import add_page, api_url, calls_to, signed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_chain_key")]

ATTEMPTS = CancelAttempt._meta.db_table
PARENT = 500


@dataclass
class Case:
    """A cancel this app refuses or fails, and how its row reads (``{id}``: the attempt
    that blocked it)."""

    arrange: Callable[..., int | None]
    target: Callable[[], CancelTarget]
    submission: Callable[[], Submission]
    not_sent: str
    english: str
    chinese: str


def by(username: str) -> Submission:
    return Submission(username=username)


def team_a() -> Submission:
    return Submission(username="bob", visible=RecallTask.objects.filter(task_name="Team A"))


def one_in_flight(mocked_api, settings) -> int:
    make_task(12)
    return CancelAttempt.objects.create(
        cancel_type=CancelType.TASK, target_id=12, task_key_id=12, outcome=Outcome.PENDING
    ).pk


def one_in_doubt(mocked_api, settings) -> int:
    make_task(12)
    return CancelAttempt.objects.create(
        cancel_type=CancelType.TASK, target_id=12, task_key_id=12, outcome=Outcome.UNKNOWN
    ).pk


def a_task_of_team_b(mocked_api, settings) -> None:
    make_task(12, task_name="Team B")


def a_parent_with_a_task_of_team_b(mocked_api, settings) -> None:
    make_task(12, parent_task_id=PARENT, task_name="Team A")
    make_task(13, parent_task_id=PARENT, task_name="Team B")


def laaffic_unreadable(mocked_api, settings) -> None:
    make_task(12)
    mocked_api.post(
        api_url("queryDetail"), json={"code": -16, "msg": "timestamp expired"}, match=[signed]
    )


def no_api_secret(mocked_api, settings) -> None:
    make_task(12)
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "API_SECRET": ""}


def a_node_not_mirrored(mocked_api, settings) -> None:
    make_task(12)


def a_parent_laaffic_does_not_list(mocked_api, settings) -> None:
    add_page(mocked_api)


def a_parent_laaffic_cannot_list(mocked_api, settings) -> None:
    mocked_api.post(
        api_url("queryPage"), json={"code": -16, "msg": "timestamp expired"}, match=[signed]
    )


def node_999() -> CancelTarget:
    return CancelTarget(CancelType.NODE, 999)


def task_12() -> CancelTarget:
    return CancelTarget.for_task(RecallTask.objects.get(key_id=12))


def parent() -> CancelTarget:
    return CancelTarget.for_parent(PARENT, RecallTask.objects.filter(parent_task_id=PARENT))


CASES = {
    "in flight": Case(
        one_in_flight,
        task_12,
        lambda: by("bob"),
        NotSent.IN_FLIGHT,
        "Not sent by this app: another cancel of this task was in flight (attempt #{id}).",
        "本应用未发送：当时此任务的另一个取消正在处理中（记录 #{id}）。",
    ),
    "in doubt": Case(
        one_in_doubt,
        task_12,
        lambda: by("bob"),
        NotSent.IN_DOUBT,
        "Not sent by this app: the outcome of an earlier cancel of this task (attempt #{id}) "
        "was not known yet; “Refresh from LAAFFIC” on the task settles it.",
        "本应用未发送：此任务之前一次取消（记录 #{id}）的结果当时尚不可知；"
        "在该任务上“从 LAAFFIC 刷新”即可确定结果。",
    ),
    "hidden task": Case(
        a_task_of_team_b,
        task_12,
        team_a,
        NotSent.HIDDEN,
        "Not sent by this app: bob may not see this recall task.",
        "本应用未发送：bob 无权查看此重呼任务。",
    ),
    "hidden parent": Case(
        a_parent_with_a_task_of_team_b,
        parent,
        team_a,
        NotSent.HIDDEN,
        f"Not sent by this app: parent task {PARENT} has recall tasks that bob may not see; "
        "a cancel by parent task id would stop them too.",
        f"本应用未发送：父任务 {PARENT} 有 bob 无权查看的重呼任务；按父任务 ID 取消也会停止它们。",
    ),
    "unreadable": Case(
        laaffic_unreadable,
        task_12,
        lambda: by("bob"),
        NotSent.UNREADABLE,
        "Not sent by this app: it could not be re-read from LAAFFIC first. Error: "
        "LAAFFIC refused the request: code -16",
        "本应用未发送：无法先从 LAAFFIC 重新读取。错误：LAAFFIC refused the request: code -16",
    ),
    "node not mirrored": Case(
        a_node_not_mirrored,
        node_999,
        lambda: by("bob"),
        NotSent.NOT_MIRRORED,
        "Nothing sent: this node is not in the local mirror; “Refresh from LAAFFIC” on its "
        "task first.",
        "未发送：本地副本中没有此节点；请先在其任务上“从 LAAFFIC 刷新”。",
    ),
    "parent not listed": Case(
        a_parent_laaffic_does_not_list,
        lambda: CancelTarget.for_parent(PARENT),
        lambda: by("bob"),
        NotSent.NO_TASKS,
        f"Nothing sent: LAAFFIC lists no recent recall task of parent task id {PARENT}.",
        f"未发送：LAAFFIC 没有父任务 ID {PARENT} 的近期重呼任务。",
    ),
    "parent unreadable": Case(
        a_parent_laaffic_cannot_list,
        lambda: CancelTarget.for_parent(PARENT),
        lambda: by("bob"),
        NotSent.UNREADABLE,
        "Not sent by this app: it could not be re-read from LAAFFIC first. Error: "
        "LAAFFIC refused the request: code -16",
        "本应用未发送：无法先从 LAAFFIC 重新读取。错误：LAAFFIC refused the request: code -16",
    ),
    "settings": Case(
        no_api_secret,
        task_12,
        lambda: by("bob"),
        NotSent.SETTINGS,
        "Not sent by this app: its LAAFFIC settings are incomplete; tell your administrator. "
        "Error: ",
        "本应用未发送：本应用的 LAAFFIC 设置不完整；请告知管理员。错误：",
    ),
}


@pytest.mark.parametrize("submitted_in", ["zh-hans", "en"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_row_not_sent_reads_in_the_readers_language_whatever_the_submitters(
    case, submitted_in, mocked_api, settings, capsys
):
    blocking = case.arrange(mocked_api, settings)
    with translation.override(submitted_in):
        [result] = service.cancel([case.target()], case.submission()).results

    assert calls_to(mocked_api, "cancel") == []
    row = CancelAttempt.objects.get(username="bob")
    assert (row.outcome, row.request_body) == (result.outcome, None)
    assert (row.not_sent, row.blocked_by) == (case.not_sent, blocking)
    # No sentence of the submitter's language is kept: at most the error's own text.
    for sentence in ("Not sent", "Nothing sent", "nothing was sent", "未发送"):
        assert sentence not in row.error_detail
    english, chinese = (text.format(id=blocking) for text in (case.english, case.chinese))
    shown_in_english, shown_in_chinese = message(row, "en"), message(row, "zh-hans")
    assert shown_in_english.startswith(english), shown_in_english
    assert shown_in_chinese.startswith(chinese), shown_in_chinese
    assert row.chain_seq is not None  # finished, so linked, and the chain holds
    assert run_verify(capsys)[1] is None


def test_the_task_pages_timeline_says_the_app_sent_nothing(mocked_api, settings, agent_client):
    blocking = one_in_flight(mocked_api, settings)
    service.cancel([task_12()], by("bob"))

    url = reverse("admin:laaffic_recall_recalltask_change", args=[RecallTask.objects.get().pk])
    html = agent_client.get(url).content.decode()

    assert (
        f"Not sent by this app: another cancel of this task was in flight (attempt #{blocking})."
        in html
    )


# --------------------------------------------------------------------------- signed


def refused_rows() -> list[CancelAttempt]:
    first = finished(12)
    return [
        first,
        finished(12, Outcome.REFUSED, not_sent=NotSent.IN_FLIGHT, blocked_by=first.pk),
        finished(13),
    ]


@pytest.mark.parametrize(("column", "forged"), [("not_sent", "hidden"), ("blocked_by", 999)])
def test_why_nothing_was_sent_cannot_be_changed_on_a_finished_row(column, forged):
    row = refused_rows()[1]

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with (
        pytest.raises(DatabaseError, match=r"append-only|cannot be changed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE {ATTEMPTS} SET {column} = %s WHERE id = %s", [forged, row.pk])

    assert CancelAttempt.objects.values_list("not_sent", "blocked_by").get(pk=row.pk) == (
        NotSent.IN_FLIGHT,
        row.blocked_by,
    )


@pytest.mark.parametrize(
    ("column", "forged"), [("not_sent", "hidden"), ("not_sent", ""), ("blocked_by", 999)]
)
def test_a_forged_reason_for_not_sending_is_named_by_the_verifier(column, forged, capsys):
    rows = refused_rows()
    assert run_verify(capsys)[1] is None

    raw_sql(f"UPDATE {ATTEMPTS} SET {column} = %s WHERE id = %s", forged, rows[1].pk)

    problem = run_verify(capsys)[1]
    assert problem is not None and problem.startswith(f"Row {rows[1].pk} (link 2) was changed")
