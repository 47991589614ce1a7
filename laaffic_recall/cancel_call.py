"""One cancel request and what follows it: the answer classified, a re-read of the task(s)
that settles an unclear answer and updates the mirror, or marks it if the re-read fails.

Used by ``cancel.py`` once the attempt's pending row is committed and the fresh read
allowed the call; the request is sent exactly once, never retried.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction
from django.utils.translation import gettext as _

from . import sync
from .audit import status_label
from .cancel_results import CancelTarget
from .client import ApiError, LaafficClient, LaafficError, OutcomeUnknownError, TransportError
from .models import CancelType, Outcome, RecallNode, RecallTask, Status
from .preflight import Preflight

logger = logging.getLogger("laaffic_recall")


def send(client: LaafficClient, target: CancelTarget) -> tuple[dict, str, str]:
    """One cancel call, classified: (row fields, hint for the agent, code name)."""
    try:
        answer = client.cancel(int(target.cancel_type), target.target_id)
    except ApiError as exc:
        detail = f"{exc.code_name}. {exc.hint}" if exc.hint else exc.code_name
        fields = {
            "outcome": Outcome.REFUSED,
            "http_status": exc.http_status,
            "response_code": exc.code,
            "response_message": exc.message,
            "error_detail": detail,
        }
        return fields, exc.hint, exc.code_name
    except OutcomeUnknownError as exc:
        return _transport_fields(Outcome.UNKNOWN, exc), "", ""
    except TransportError as exc:
        return _transport_fields(Outcome.FAILED, exc), "", ""
    except Exception as exc:
        logger.exception("Unexpected error while sending cancel %s", target.key)
        detail = _("unexpected %(error)s while sending; the request may have reached LAAFFIC")
        return (
            {"outcome": Outcome.UNKNOWN, "error_detail": detail % {"error": type(exc).__name__}},
            "",
            "",
        )
    fields = {
        "outcome": Outcome.SUCCEEDED,
        "http_status": answer.http_status,
        "response_code": answer.code,
        "response_message": answer.message,
    }
    return fields, "", ""


def _transport_fields(outcome: str, exc: TransportError) -> dict:
    detail = str(exc)
    if exc.body_excerpt and exc.body_excerpt not in detail:
        detail += f" {exc.body_excerpt}"
    return {"outcome": outcome, "http_status": exc.http_status, "error_detail": detail}


def after_call(fields: dict, fresh: Preflight, target: CancelTarget, client: LaafficClient) -> None:
    """Re-read the task(s); settle an unknown answer; mark the mirror if the re-read fails."""
    state, error = _reread(fresh, target, client)
    notes = [fields.get("error_detail", "")]
    if fields["outcome"] == Outcome.UNKNOWN:
        if state == Status.CANCELLED:
            fields["outcome"] = Outcome.SUCCEEDED
            fields["confirmed_by_reread"] = True
            notes.append(_("A re-read right after shows it Cancelled."))
        elif state is None and error:
            notes.append(_("The re-read right after failed too: %(error)s") % {"error": error})
        elif state is None:
            notes.append(_("A re-read right after no longer lists it."))
        else:
            notes.append(
                _("A re-read right after shows it %(status)s.") % {"status": status_label(state)}
            )
    if fields["outcome"] != Outcome.SUCCEEDED:
        fields["mirror_confirmed"] = not error
    elif state == Status.CANCELLED and not error:
        fields["mirror_confirmed"] = True
    else:
        fields["mirror_confirmed"] = False
        _mark_cancelled(fresh, target)
        if error:
            notes.append(_("The re-read after the cancel failed: %(error)s") % {"error": error})
        else:
            notes.append(
                _("A re-read right after still shows it %(status)s.")
                % {"status": status_label(state)}
            )
    fields["error_detail"] = " ".join(n for n in notes if n).strip()


def _reread(
    fresh: Preflight, target: CancelTarget, client: LaafficClient
) -> tuple[int | None, str]:
    """(the target's status at LAAFFIC now, or None; an error text if the re-read failed)."""
    try:
        details = [client.query_detail(key) for key in fresh.task_keys]
    except LaafficError as exc:
        return None, str(exc)
    if not details:
        return None, ""
    main = details[0]
    if target.cancel_type == CancelType.NODE:
        state = next((n.status for n in main.nodes if n.key_id == target.target_id), None)
    else:
        state = main.status
    try:
        for detail in details:
            sync.store_detail(detail)
    except Exception:  # a database error, or a task_synced receiver of the host failing
        logger.exception("Could not store the re-read of task(s) %s", fresh.task_keys)
        return state, _("the mirror could not be updated (database error)")
    return state, ""


def _mark_cancelled(fresh: Preflight, target: CancelTarget) -> None:
    """Mark the mirror as LAAFFIC should now be, flagged ``unconfirmed`` until the next sync."""
    try:
        with transaction.atomic():
            if target.cancel_type == CancelType.NODE and fresh.node is not None:
                RecallNode.objects.filter(
                    task__key_id=fresh.node.task.key_id,
                    position__gte=fresh.node.position,
                    status=Status.PENDING,
                ).update(status=Status.CANCELLED, unconfirmed=True)
            elif target.cancel_type != CancelType.NODE:
                RecallTask.objects.filter(key_id__in=fresh.task_keys).update(
                    status=Status.CANCELLED, unconfirmed=True
                )
    except DatabaseError:
        logger.exception("Could not mark the mirror of %s %s", target.cancel_type, target.target_id)
