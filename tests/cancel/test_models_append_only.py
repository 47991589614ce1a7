"""The cancel audit log is append-only through the ORM, yet SET_NULL on deletion still works."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from laaffic_recall.models import (
    AppendOnlyError,
    CancelAttempt,
    CancelType,
    Outcome,
    RecallNode,
    RecallTask,
    Status,
)

pytestmark = pytest.mark.django_db


def make_attempt(**fields) -> CancelAttempt:
    values = {"cancel_type": CancelType.TASK, "target_id": 12, "outcome": Outcome.SUCCEEDED}
    values.update(fields)
    return CancelAttempt.objects.create(**values)


def test_a_finished_attempt_cannot_be_saved_again():
    attempt = make_attempt(outcome=Outcome.REFUSED, response_code=-16)
    attempt.response_code = 0
    attempt.outcome = Outcome.SUCCEEDED
    with pytest.raises(AppendOnlyError):
        attempt.save()
    attempt.refresh_from_db()
    assert (attempt.outcome, attempt.response_code) == (Outcome.REFUSED, -16)


def test_a_finished_attempt_cannot_be_overwritten_by_a_new_instance_with_its_pk():
    attempt = make_attempt(response_message="success")
    forged = CancelAttempt(pk=attempt.pk, cancel_type=1, target_id=12, outcome=Outcome.FAILED)
    with pytest.raises(AppendOnlyError):
        forged.save()
    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.SUCCEEDED


def test_a_stale_copy_cannot_overwrite_a_row_that_was_finished_meanwhile():
    row = make_attempt(outcome=Outcome.PENDING)
    copy = CancelAttempt.objects.get(pk=row.pk)
    row.outcome = Outcome.SUCCEEDED
    row.save()
    copy.outcome = Outcome.UNKNOWN
    with pytest.raises(AppendOnlyError):
        copy.save()
    assert CancelAttempt.objects.get(pk=row.pk).outcome == Outcome.SUCCEEDED


@pytest.mark.parametrize("open_outcome", [Outcome.PENDING, Outcome.UNKNOWN])
def test_an_open_attempt_is_resolved_once(open_outcome):
    attempt = make_attempt(outcome=open_outcome)
    attempt.outcome = Outcome.SUCCEEDED
    attempt.confirmed_by_reread = True
    attempt.save()
    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.SUCCEEDED
    attempt.outcome = Outcome.FAILED
    with pytest.raises(AppendOnlyError):
        attempt.save()


def test_delete_of_one_row_and_of_a_queryset_are_refused():
    attempt = make_attempt()
    with pytest.raises(AppendOnlyError):
        attempt.delete()
    with pytest.raises(AppendOnlyError):
        CancelAttempt.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        CancelAttempt.objects.filter(pk=attempt.pk).delete()
    assert CancelAttempt.objects.count() == 1


def test_bulk_update_and_queryset_update_are_refused():
    attempt = make_attempt(outcome=Outcome.PENDING)
    with pytest.raises(AppendOnlyError):
        CancelAttempt.objects.filter(pk=attempt.pk).update(outcome=Outcome.SUCCEEDED)
    attempt.outcome = Outcome.SUCCEEDED
    with pytest.raises(AppendOnlyError), transaction.atomic():
        CancelAttempt.objects.bulk_update([attempt], ["outcome"])
    assert CancelAttempt.objects.get(pk=attempt.pk).outcome == Outcome.PENDING


def test_one_pending_attempt_per_target_is_enforced_by_the_database():
    make_attempt(outcome=Outcome.PENDING)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_attempt(outcome=Outcome.PENDING)
    # Finished rows for the same target, and a pending row for another target, are fine.
    make_attempt(outcome=Outcome.REFUSED)
    make_attempt(outcome=Outcome.PENDING, target_id=13)
    make_attempt(outcome=Outcome.PENDING, cancel_type=CancelType.PARENT)


def test_set_null_on_user_task_and_node_deletion_keeps_the_history():
    user = get_user_model().objects.create_user("agent7", password="x")
    task = RecallTask.objects.create(key_id=12, status=Status.CANCELLED)
    node = RecallNode.objects.create(key_id=101, task=task, position=0, status=Status.CANCELLED)
    on_node = make_attempt(
        cancel_type=CancelType.NODE, target_id=101, task=task, node=node, user=user
    )
    on_task = make_attempt(task=task, task_key_id=12, user=user, username="agent7")

    user.delete()
    task.delete()  # cascades to the node

    on_node.refresh_from_db()
    on_task.refresh_from_db()
    assert (on_node.user_id, on_node.task_id, on_node.node_id) == (None, None, None)
    assert (on_task.user_id, on_task.task_id) == (None, None)
    assert on_task.username == "agent7"
    assert on_task.task_key_id == 12
    assert on_node.target_id == 101
    assert CancelAttempt.objects.count() == 2


def test_stale_pending_row_is_shown_as_unknown(settings):
    settings.LAAFFIC_RECALL = {**settings.LAAFFIC_RECALL, "STALE_ATTEMPT_SECONDS": 60}
    fresh = make_attempt(outcome=Outcome.PENDING, target_id=1)
    stale = make_attempt(
        outcome=Outcome.PENDING,
        target_id=2,
        started_at=timezone.now() - timedelta(seconds=61),
    )
    assert fresh.effective_outcome == Outcome.PENDING
    assert stale.effective_outcome == Outcome.UNKNOWN
    assert list(CancelAttempt.objects.with_effective_outcome(Outcome.UNKNOWN)) == [stale]
    assert list(CancelAttempt.objects.with_effective_outcome(Outcome.PENDING)) == [fresh]
    assert list(CancelAttempt.objects.stale()) == [stale]


def test_one_pending_attempt_per_task_whatever_the_cancel_type():
    make_attempt(outcome=Outcome.PENDING, task_key_id=12)
    for cancel_type, target_id in [(CancelType.PARENT, 555), (CancelType.NODE, 101)]:
        with pytest.raises(IntegrityError), transaction.atomic():
            make_attempt(
                outcome=Outcome.PENDING,
                cancel_type=cancel_type,
                target_id=target_id,
                task_key_id=12,
            )
    make_attempt(outcome=Outcome.PENDING, cancel_type=CancelType.NODE, target_id=1, task_key_id=13)
    make_attempt(outcome=Outcome.UNKNOWN, cancel_type=CancelType.NODE, target_id=2, task_key_id=12)


def test_an_upsert_through_bulk_create_cannot_rewrite_a_finished_row():
    attempt = make_attempt(outcome=Outcome.REFUSED, response_code=-18)
    forged = CancelAttempt(pk=attempt.pk, cancel_type=1, target_id=12, outcome=Outcome.SUCCEEDED)
    for manager in (CancelAttempt.objects, CancelAttempt._base_manager):
        with pytest.raises(AppendOnlyError), transaction.atomic():
            manager.bulk_create(
                [forged],
                update_conflicts=True,
                unique_fields=["id"],
                update_fields=["outcome", "response_code"],
            )
    attempt.refresh_from_db()
    assert (attempt.outcome, attempt.response_code) == (Outcome.REFUSED, -18)


def test_bulk_create_of_new_rows_is_allowed():
    CancelAttempt.objects.bulk_create(
        [CancelAttempt(cancel_type=1, target_id=k, outcome=Outcome.SKIPPED) for k in (1, 2)]
    )
    assert CancelAttempt.objects.count() == 2


def test_the_base_manager_refuses_delete_and_any_update_but_the_set_null_one(
    django_assert_num_queries,
):
    user = get_user_model().objects.create_user("agent8", password="x")
    attempt = make_attempt(user=user, reason="ticket 1")
    base = CancelAttempt._base_manager
    with django_assert_num_queries(0):
        with pytest.raises(AppendOnlyError):
            base.filter(pk=attempt.pk).delete()
        with pytest.raises(AppendOnlyError):
            base.filter(pk=attempt.pk)._raw_delete(base.db)
        with pytest.raises(AppendOnlyError):
            base.filter(pk=attempt.pk).update(reason="edited")
        with pytest.raises(AppendOnlyError):
            base.filter(pk=attempt.pk).update(user=None, reason="edited")
        with pytest.raises(AppendOnlyError):
            base.filter(pk=attempt.pk).update(task=RecallTask(pk=1))
        with pytest.raises(AppendOnlyError):
            base.bulk_update([attempt], ["reason"])
        with pytest.raises(AppendOnlyError):
            CancelAttempt.objects.bulk_update([attempt], ["reason"])
    attempt.refresh_from_db()
    assert attempt.reason == "ticket 1" and attempt.user == user
    # What Django's SET_NULL deletion collector does is still possible.
    assert base.filter(pk=attempt.pk).update(user=None) == 1
    assert CancelAttempt._meta.base_manager_name is not None
