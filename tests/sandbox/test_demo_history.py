"""The demo's earlier cancels: real attempts of each outcome, by the demo's agent, through
the cancel service against the sandbox, made once on a fresh audit log; the chain holds."""

from __future__ import annotations

import html as html_lib
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from laaffic_recall.models import CancelAttempt, CancelType, Outcome, RecallNode, RecallTask
from laaffic_recall.sandbox.models import SandboxCall, SandboxFault, SandboxNode, SandboxTask
from laaffic_recall.sandbox.testing import recall_settings
from tests.support.sandbox import demo

pytestmark = pytest.mark.slow  # each test runs the demo

# Every outcome a finished attempt can have (all but "in flight").
EVERY_OUTCOME = set(Outcome) - {Outcome.PENDING}


@pytest.fixture
def sandbox_mode(settings):
    settings.LAAFFIC_SANDBOX = {"API_KEY": "demo-key", "API_SECRET": "demo-secret"}
    settings.LAAFFIC_RECALL = recall_settings(
        "http://127.0.0.1:8000/sandbox",
        RETRY_BACKOFF=0,
        AUDIT_CHAIN_KEY="demo-chain-key",
    )
    return settings


@pytest.mark.django_db(transaction=True)
def test_a_fresh_demo_leaves_real_cancels_of_each_outcome_by_the_agent(sandbox_mode):
    began = timezone.now()
    output = demo("--tasks", "80", "--seed", "3")
    ended = timezone.now()

    attempts = list(CancelAttempt.objects.order_by("id"))
    assert {a.outcome for a in attempts} == EVERY_OUTCOME
    assert "Earlier cancels for the audit log" in output and "Unknown" in output
    agent = get_user_model().objects.get(username="agent")
    assert {(a.user_id, a.username) for a in attempts} == {(agent.pk, "agent")}
    assert all(a.reason.startswith("Demo: ") for a in attempts)
    # The three cancel types, as an agent uses them.
    succeeded = {a.cancel_type for a in attempts if a.outcome == Outcome.SUCCEEDED}
    assert succeeded == {CancelType.TASK, CancelType.PARENT, CancelType.NODE}
    # One succeeded only because the re-read showed what the lost answer could not.
    assert any(a.confirmed_by_reread for a in attempts if a.outcome == Outcome.SUCCEEDED)
    # Refused by LAAFFIC (its code kept), and refused here while the unknown one is in doubt.
    refused = [a for a in attempts if a.outcome == Outcome.REFUSED]
    assert {a.response_code for a in refused} == {-18, None}
    [local] = [a for a in refused if a.response_code is None]
    [unknown] = [a for a in attempts if a.outcome == Outcome.UNKNOWN]
    assert local.request_body is None and local.task_key_id == unknown.task_key_id
    # Failed and skipped ones sent nothing; the sandbox received exactly the others.
    unsent = [a for a in attempts if a.outcome in (Outcome.FAILED, Outcome.SKIPPED)]
    assert len(unsent) >= 3 and all(a.request_body is None for a in unsent)
    sent = sorted(
        (a.request_body["type"], a.request_body["id"]) for a in attempts if a.request_body
    )
    received = sorted(
        (c.body["type"], c.body["id"]) for c in SandboxCall.objects.filter(call="cancel")
    )
    assert received == sent
    # The faults were on for single requests only, and are off now.
    assert SandboxFault.objects.exists()
    assert not SandboxFault.objects.filter(enabled=True).exists()
    # The mirror shows what the sandbox shows, cancelled tasks and rounds included.
    assert set(RecallTask.objects.values_list("key_id", "status")) == set(
        SandboxTask.objects.values_list("key_id", "status")
    )
    assert set(RecallNode.objects.values_list("key_id", "status")) == set(
        SandboxNode.objects.values_list("key_id", "status")
    )
    # The attempts start when the demo runs (the service stamps them; not backdated).
    assert all(began <= a.started_at <= ended for a in attempts)

    # The audit chain holds: every finished attempt is linked; the unknown one is not yet.
    verify = StringIO()
    call_command("laaffic_audit_verify", stdout=verify, stderr=verify)
    assert "The audit chain is intact." in verify.getvalue()
    assert unknown.chain_seq is None
    assert all(a.chain_seq is not None for a in attempts if a.pk != unknown.pk)


@pytest.mark.django_db(transaction=True)
def test_the_demo_makes_its_cancels_only_on_an_empty_audit_log(sandbox_mode):
    demo("--tasks", "80", "--seed", "3")
    before = list(CancelAttempt.objects.values_list("pk", flat=True))
    assert before
    calls = SandboxCall.objects.filter(call="cancel").count()

    output = demo("--tasks", "80", "--seed", "3")

    assert list(CancelAttempt.objects.values_list("pk", flat=True)) == before
    assert SandboxCall.objects.filter(call="cancel").count() == calls
    assert "Earlier cancels" not in output


@pytest.mark.django_db(transaction=True)
def test_without_a_sync_the_demo_cancels_nothing(sandbox_mode):
    demo("--tasks", "20", "--no-sync")
    assert not CancelAttempt.objects.exists()
    assert not SandboxCall.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_overview_and_the_audit_log_show_the_demo_cancels_of_each_outcome(sandbox_mode, client):
    demo("--tasks", "80", "--seed", "3")
    client.force_login(get_user_model().objects.get(username="agent"))

    overview = html_lib.unescape(client.get("/admin/laaffic_recall/").content.decode())
    for outcome in EVERY_OUTCOME:
        assert f'<rect class="laaffic-chart-outcome-{outcome}"' in overview, outcome
    assert "Cancels per day, last 14 days, by outcome." in overview
    assert "1 cancel refused in the last 24 hours" in overview or (
        "cancels refused in the last 24 hours" in overview
    )

    for outcome in EVERY_OUTCOME:
        page = client.get(f"/admin/laaffic_recall/cancelattempt/?outcome__exact={outcome}")
        assert page.status_code == 200
        shown = page.context["cl"].result_list
        assert shown and {a.outcome for a in shown} == {outcome}
