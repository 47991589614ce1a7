"""The audit log admin: read-only for everyone, filters and search, the streamed CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from laaffic_recall.admin.attempts import csv_cell
from laaffic_recall.models import AuditChainCheck, CancelAttempt, CancelType, Outcome, SettledBy
from laaffic_recall.verify import verify_chain
from tests.support.mirror import make_task

pytestmark = pytest.mark.django_db

LIST = reverse("admin:laaffic_recall_cancelattempt_changelist")


def change_url(attempt) -> str:
    return reverse("admin:laaffic_recall_cancelattempt_change", args=[attempt.pk])


def attempt(**fields) -> CancelAttempt:
    values = {
        "cancel_type": CancelType.TASK,
        "target_id": 12,
        "task_key_id": 12,
        "outcome": Outcome.SUCCEEDED,
        "username": "ann",
    }
    values.update(fields)
    return CancelAttempt.objects.create(**values)


def test_superuser_cannot_add_change_or_delete(admin_client):
    row = attempt(reason="original")

    assert admin_client.get(reverse("admin:laaffic_recall_cancelattempt_add")).status_code == 403
    page = admin_client.get(change_url(row))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and "original" in html  # a read-only view
    post = admin_client.post(change_url(row), {"reason": "rewritten", "outcome": "failed"})
    assert post.status_code == 403
    delete = reverse("admin:laaffic_recall_cancelattempt_delete", args=[row.pk])
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    actions = admin_client.get(LIST).context["action_form"].fields["action"].choices
    assert "delete_selected" not in [name for name, _ in actions]
    bulk = admin_client.post(
        LIST, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    row.refresh_from_db()
    assert (row.reason, row.outcome) == ("original", Outcome.SUCCEEDED)
    assert CancelAttempt.objects.count() == 1


def test_staff_with_view_permission_read_it_others_do_not(auditor_client, client):
    attempt()
    assert auditor_client.get(LIST).status_code == 200
    other = get_user_model().objects.create_user("nobody", is_staff=True)
    client.force_login(other)
    assert client.get(LIST).status_code == 403


def test_list_shows_time_user_type_target_coloured_outcome_code_message(auditor_client):
    task = make_task(12)
    attempt(
        task=task,
        outcome=Outcome.REFUSED,
        response_code=-16,
        response_message="timestamp expired",
        reason="Ticket 4711: customer asked to stop calls",
    )
    html = auditor_client.get(LIST).content.decode()
    assert "Ticket 4711: customer asked to stop calls" in html
    assert "append-only" in html
    assert "ann" in html and "Whole task (by recall key)" in html
    assert "laaffic-outcome-refused" in html and "laaffic_recall/admin.css" in html
    assert "-16" in html and "timestamp expired" in html
    assert reverse("admin:laaffic_recall_recalltask_change", args=[task.pk]) in html


def test_a_stale_pending_row_is_shown_and_filtered_as_unknown(auditor_client, settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "STALE_ATTEMPT_SECONDS": 60}
    stale = attempt(outcome=Outcome.PENDING, started_at=timezone.now() - timedelta(minutes=5))
    live = attempt(outcome=Outcome.PENDING, target_id=13, task_key_id=13)

    html = auditor_client.get(LIST).content.decode()
    assert "laaffic-outcome-unknown" in html and "laaffic-outcome-pending" in html

    unknown = auditor_client.get(LIST, {"outcome": "unknown"}).context["cl"].result_list
    pending = auditor_client.get(LIST, {"outcome": "pending"}).context["cl"].result_list
    assert list(unknown) == [stale] and list(pending) == [live]


def test_filters_date_hierarchy_and_search(auditor_client):
    a = attempt(target_id=12, task_key_id=12, username="ann", response_code=0, reason="Ticket 4711")
    b = attempt(
        cancel_type=CancelType.NODE,
        target_id=555,
        task_key_id=77,
        username="bob",
        outcome=Outcome.FAILED,
        started_at=a.started_at,  # one month for both, whenever the test runs
    )

    def results(**params):
        response = auditor_client.get(LIST, params)
        assert response.status_code == 200
        return set(response.context["cl"].result_list)

    assert results(cancel_type=3) == {b}
    assert results(response_code=0) == {a}
    assert results(username="bob") == {b}
    assert results(outcome="failed") == {b}
    when = timezone.localtime(a.started_at)
    assert results(started_at__year=when.year, started_at__month=when.month) == {a, b}
    assert results(q="555") == {b}
    assert results(q="77") == {b}  # the task key
    assert results(q="ann") == {a}
    assert results(q="not-a-number") == set()
    assert results(q="ticket 4711") == {a}  # words of the reason
    assert results(task_key_id=12) == {a}
    assert results(correlation_id=a.correlation_id) == {a}


def test_csv_download_streams_the_selected_rows_with_formulas_escaped(auditor_client):
    dangerous = attempt(
        outcome=Outcome.REFUSED,
        response_code=-16,
        response_message='=HYPERLINK("http://evil")',
        reason="+1 call me",
        error_detail="-2 oops",
        username="@admin",
    )
    attempt(target_id=13, reason="\tTAB", response_message="\rCR")
    not_selected = attempt(target_id=99, reason="not selected")

    response = auditor_client.post(
        LIST,
        {
            "action": "download_csv",
            "index": 0,
            "_selected_action": [r.pk for r in CancelAttempt.objects.exclude(pk=not_selected.pk)],
        },
    )

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [int(r["Id sent"]) for r in rows] == [12, 13]
    first, second = rows
    assert first["Response message"] == '\'=HYPERLINK("http://evil")'
    assert first["Reason"] == "'+1 call me"
    assert first["Error detail"] == "'-2 oops"
    assert first["User"] == "'@admin"
    assert first["Response code"] == "-16"  # a number we wrote, not text
    assert first["Outcome"] == str(Outcome.REFUSED.label)
    assert first["Submission"] == str(dangerous.correlation_id)
    assert second["Reason"] == "'\tTAB" and second["Response message"] == "'\rCR"
    assert "not selected" not in body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+x", "'+x"),
        ("-x", "'-x"),
        ("@x", "'@x"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        (" =1+1", "' =1+1"),
        ("\u00a0=1+1", "'\u00a0=1+1"),
        ("\n=1+1", "'\n=1+1"),
        ("\u3000\u200b=1+1", "'\u3000\u200b=1+1"),
        ("\x00\x1b=1+1", "'\x00\x1b=1+1"),
        ("\uff1d1+1", "'\uff1d1+1"),
        ("\uff0bx", "'\uff0bx"),
        ("\uff0dx", "'\uff0dx"),
        ("\uff20x", "'\uff20x"),
        ("\ufe661+1", "'\ufe661+1"),
        ("\u22121", "'\u22121"),
        ("|calc", "'|calc"),
        ("\uff5ccalc", "'\uff5ccalc"),
        ("a=b", "a=b"),
        ("ok\n=1+1", "ok\n=1+1"),
        ("  plain", "  plain"),
        ("", ""),
        ("   ", "   "),
        (-16, -16),
        (None, ""),
    ],
)
def test_csv_cell_escaping(value, expected):
    assert csv_cell(value) == expected


def test_csv_variants_read_back_escaped_and_whole(auditor_client):
    variants = [
        " =1+1",
        "\u00a0=1+1",
        "\n=1+1",
        "\uff1d1+1",
        "|calc",
        'ok\n=HYPERLINK("http://evil")',
        "ok\r\n@SUM(A1)",
    ]
    for n, text in enumerate(variants):
        attempt(target_id=100 + n, response_message=text, reason=text)

    response = auditor_client.post(
        LIST,
        {
            "action": "download_csv",
            "index": 0,
            "_selected_action": list(CancelAttempt.objects.values_list("pk", flat=True)),
        },
    )

    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body, newline="")))
    assert len(rows) == len(variants)  # no embedded newline started a row of its own
    by_id = {int(r["Id sent"]): r for r in rows}
    for n, text in enumerate(variants):
        row = by_id[100 + n]
        expected = text if text.startswith("ok") else "'" + text
        assert row["Response message"] == expected
        assert row["Reason"] == expected
    # The cells with a newline are quoted whole, so the line after the newline is not a row.
    assert '"ok\n=HYPERLINK(""http://evil"")"' in body
    assert '"ok\r\n@SUM(A1)"' in body


def test_the_attempt_page_reads_plainly(auditor_client):
    row = attempt(
        duration=timedelta(microseconds=131103),
        confirmed_by_reread=False,
        mirror_confirmed=True,
    )

    html = auditor_client.get(change_url(row)).content.decode()

    assert "0.13 s" in html and "0:00:00.131103" not in html
    assert "icon-no.svg" not in html and "icon-yes.svg" not in html and "icon-unknown" not in html
    assert "Yes (re-read from LAAFFIC after the cancel)" in html
    link = f'href="{LIST}?correlation_id={row.correlation_id}"'
    assert link in html and f">{row.correlation_id}</a>" in html
    assert "/history/" not in html and "History" not in html


def test_the_attempt_page_of_an_unsent_attempt_says_so(auditor_client):
    row = attempt(outcome=Outcome.SKIPPED, mirror_confirmed=None, confirmed_by_reread=True)
    html = auditor_client.get(change_url(row)).content.decode()
    assert "Not applicable (nothing was sent)" in html
    duration = (
        r'fieldBox field-duration_text">\s*<label[^>]*>Duration:</label>\s*<div class="readonly">-<'
    )
    assert re.search(duration, html)


def test_the_response_code_filter_says_what_0_and_no_code_mean(auditor_client):
    ok = attempt(response_code=0)
    refused = attempt(target_id=13, task_key_id=13, response_code=-16, outcome=Outcome.REFUSED)
    unsent = attempt(target_id=14, task_key_id=14, response_code=None, outcome=Outcome.SKIPPED)

    response = auditor_client.get(LIST)
    html = response.content.decode()
    assert "0 (success)" in html and "none (nothing sent / no answer)" in html
    assert re.search(r'<a href="\?response_code=-16">-16</a>', html)

    def results(value):
        page = auditor_client.get(LIST, {"response_code": value})
        assert page.status_code == 200
        return set(page.context["cl"].result_list)

    assert results("0") == {ok}
    assert results("-16") == {refused}
    assert results("none") == {unsent}
    assert results("abc") == set()
    assert results("99999999999999999999") == set()


def test_each_row_of_the_list_says_what_was_cancelled_the_code_and_the_reason(auditor_client):
    """Five columns: the type under the target, the response code under the outcome, the
    reason under the message; each row still says all of it."""
    attempt(
        cancel_type=CancelType.NODE,
        target_id=555,
        response_code=-18,
        outcome=Outcome.REFUSED,
        reason="Ticket 4711",
    )
    html = auditor_client.get(LIST).content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', html)
    assert headers == [
        "started_at",
        "username_shown",
        "target",
        "outcome_and_code",
        "message_and_reason",
    ]
    target = re.search(r'<td class="field-target">(.*?)</td>', html, re.S).group(1)
    assert '<span class="laaffic-target-id">555 <span class="laaffic-nowrap">(#12)</span>' in target
    assert ">from node</span>" in target and 'title="From node onward"' in target
    outcome = re.search(r'<td class="field-outcome_and_code">(.*?)</td>', html, re.S).group(1)
    assert "Refused" in outcome and ">code -18</span>" in outcome
    message = re.search(r'<td class="field-message_and_reason">(.*?)</td>', html, re.S).group(1)
    assert ">Reason: Ticket 4711</span>" in message


def test_a_row_without_a_response_code_or_a_reason_shows_neither(auditor_client):
    attempt(target_id=556, response_code=None, reason="", outcome=Outcome.SKIPPED)
    html = auditor_client.get(LIST).content.decode()
    assert "laaffic-response-code" not in html and "laaffic-reason" not in html


def chain_banner(response) -> str:
    match = re.search(r'<p class="[^"]*laaffic-chain-(\w+)"[^>]*>(.*?)</p>', response.text, re.S)
    assert match, "no audit chain banner"
    # Its sentences are spans set side by side; read them as a line of text.
    text = re.sub(r"</span>\s*<span[^>]*>", " ", match[2])
    text = re.sub(r"</?span[^>]*>", "", text)
    return f"{match[1]}: {' '.join(text.split())}"


def test_the_list_says_the_chain_was_not_verified_yet(auditor_client, audit_chain_key):
    attempt()
    banner = chain_banner(auditor_client.get(LIST))
    assert banner == "unverified: The audit chain has not been verified yet."


def test_the_list_shows_up_to_which_row_and_when_the_chain_was_verified(
    auditor_client, audit_chain_key
):
    rows = [attempt(target_id=12), attempt(target_id=13)]
    verify_chain()
    check = AuditChainCheck.objects.get()
    attempt(target_id=14)  # linked after the run

    banner = chain_banner(auditor_client.get(LIST))

    when = date_format(timezone.localtime(check.checked_at), "DATETIME_FORMAT")
    assert banner == (
        f"ok: At {when} the audit chain was verified up to row {rows[1].pk} (link 2). "
        "1 attempt linked since."
    )


def test_the_list_shows_the_problem_the_last_run_found(auditor_client, audit_chain_key):
    rows = [attempt(target_id=12), attempt(target_id=13)]
    AuditChainCheck.objects.create(
        ok=False, through_seq=1, through_row=rows[0].pk, problem_row=rows[1].pk, problem="Boom."
    )

    banner = chain_banner(auditor_client.get(LIST))

    assert banner.startswith("problem: <strong>The audit chain check at ")
    assert banner.endswith(f"Boom. Verified up to row {rows[0].pk} (link 1).")


def test_the_list_warns_when_no_chain_key_is_set(auditor_client):
    assert chain_banner(auditor_client.get(LIST)).startswith("nokey: No audit chain key is set")


def test_an_attempt_page_shows_its_link(auditor_client, audit_chain_key):
    linked = attempt()
    still_open = attempt(target_id=13, outcome=Outcome.UNKNOWN)

    linked_page = auditor_client.get(change_url(linked)).text
    open_page = auditor_client.get(change_url(still_open)).text

    assert "Link 1" in linked_page and linked.chain_mac in linked_page
    assert "Not yet: the row is linked when its outcome becomes final" in open_page


@pytest.mark.parametrize(
    ("language", "settled", "first"),
    [
        ("en", "Settled by a re-read at 23:04 (first answer: HTTP 502)", "code 0: success"),
        (
            "zh-hans",
            "由重新读取确定于 23:04（首次答复：HTTP 502）",  # noqa: RUF001
            "代码 0：success",  # noqa: RUF001
        ),
    ],
)
def test_a_settled_row_says_how_in_the_readers_language(auditor_client, language, settled, first):
    when = datetime(2026, 12, 6, 23, 4, tzinfo=UTC)
    attempt(
        target_id=12,
        outcome=Outcome.SUCCEEDED,
        first_outcome=Outcome.UNKNOWN,
        settled_by=SettledBy.REREAD,
        settled_at=when,
        http_status=502,
        error_detail="Cancel outcome unknown: LAAFFIC cancel answered HTTP 502",
    )
    attempt(
        target_id=13,
        outcome=Outcome.SUCCEEDED,
        first_outcome=Outcome.SUCCEEDED,
        settled_by=SettledBy.ANSWER,
        response_code=0,
        http_status=200,
        response_message="success",
    )
    html = auditor_client.get(LIST, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert settled in html
    assert first in html
    assert "Cancel outcome unknown" not in html  # the first answer is not the message


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "Nothing sent: LAAFFIC showed it Completed."),
        ("zh-hans", "未发送：LAAFFIC 显示其为已完成。"),  # noqa: RUF001
    ],
)
def test_a_skipped_row_says_what_laaffic_showed_in_the_readers_language(
    auditor_client, language, said
):
    attempt(
        outcome=Outcome.SKIPPED,
        seen_status=2,
        error_detail="LAAFFIC reports the task Completed; only a Pending one can be cancelled.",
    )
    html = auditor_client.get(LIST, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert said in html
    assert "only a Pending one can be cancelled" not in html


def test_a_search_that_finds_no_attempt_says_so(auditor_client):
    attempt(target_id=12, task_key_id=12)
    empty = auditor_client.get(LIST, {"q": "999999"}).content.decode()
    assert "No cancel attempt matches “999999”." in empty
    assert "the filters in use leave it out" in empty
    found = auditor_client.get(LIST, {"q": "12"}).content.decode()
    assert "No cancel attempt matches" not in found


def test_the_attempt_page_shows_the_whole_message_the_list_a_short_one(auditor_client):
    detail = "Could not re-read it from LAAFFIC first, so nothing was sent: " + "x" * 120 + " END"
    row = attempt(outcome=Outcome.FAILED, error_detail=detail)
    page = auditor_client.get(change_url(row)).content.decode()
    message = re.search(r'<div class="readonly">(Could not re-read.*?)</div>', page, re.S)
    assert message and message[1].strip().endswith(" END")
    listed = auditor_client.get(LIST).content.decode()
    cell = re.search(r'<span class="laaffic-message">(.*?)</span>', listed, re.S)
    assert cell and len(cell[1].strip()) == 80 and cell[1].strip().endswith("…")
