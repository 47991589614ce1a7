"""Each cancel that changed a task at LAAFFIC also written to Django admin's own history
(``LogEntry``), so the task's "History" and the admin's "Recent actions" show who cancelled
what, as for any other change in the admin. An attempt that changed nothing (skipped,
refused, failed) is not a change there: the audit log, the record of every attempt, has it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError
from django.utils.translation import gettext as _

from ..models import CancelAttempt, Outcome, RecallTask
from ..transactions import savepoint_if_nested

logger = logging.getLogger("laaffic_recall")


def change_message(attempt: CancelAttempt) -> str:
    """E.g. "Cancel (Whole task (by recall key)) of 131581: Succeeded." """
    text = _("Cancel (%(type)s) of %(target)s: %(outcome)s.") % {
        "type": attempt.get_cancel_type_display(),
        "target": attempt.target_id,
        "outcome": attempt.get_effective_outcome_display(),
    }
    if attempt.confirmed_by_reread:
        text += " " + _("Settled by re-reading the task from LAAFFIC.")
    return text


def on_cancel_attempted(sender: Any, attempt: CancelAttempt, **kwargs: Any) -> None:
    """``cancel_attempted`` receiver: a ``CHANGE`` entry on the attempt's task by the
    attempt's user once it succeeded; nothing when either is unknown, the attempt did not
    succeed, or the admin app is not installed. A failing write is logged and never breaks
    the cancel."""
    if (
        attempt.user_id is None
        or attempt.task_id is None
        or attempt.outcome != Outcome.SUCCEEDED
        or not apps.is_installed("django.contrib.admin")
    ):
        return
    from django.contrib.admin.models import CHANGE, LogEntry

    if CancelAttempt.task.is_cached(attempt):  # the cancel just wrote the row with it
        task = attempt.task
    else:
        task = RecallTask.objects.filter(pk=attempt.task_id).first()
    if task is None:
        return
    try:
        with savepoint_if_nested():
            LogEntry.objects.create(
                user_id=attempt.user_id,
                content_type=ContentType.objects.get_for_model(RecallTask),
                object_id=str(task.pk),
                object_repr=str(task)[:200],
                action_flag=CHANGE,
                change_message=change_message(attempt),
            )
    except DatabaseError:
        logger.exception("Could not write the admin history of cancel attempt %s", attempt.pk)
