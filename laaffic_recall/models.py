"""The local mirror of LAAFFIC auto-recall tasks and the append-only cancel audit log."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

from django.conf import settings
from django.db import models, router, transaction
from django.db.models.expressions import DatabaseDefault
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .chain import (
    READ_FIELDS,
    chain_key,
    link_mac,
    lock_chain,
    seal_holds,
    seal_mac,
)
from .client.printable import printable
from .client.wire import fits_signed
from .conf import app_settings

logger = logging.getLogger("laaffic_recall")

# Vendor texts and error details are cut to this many characters before they are stored,
# so a huge message cannot break the write that finishes an audit row.
TEXT_MAX = 2000
CLIPPED_FIELDS = ("response_message", "error_detail", "reason")

# The permissions the admin checks, as ``user.has_perm()`` takes them.
CANCEL_PERMISSION = "laaffic_recall.cancel_recalltask"
VIEW_TASKS_PERMISSION = "laaffic_recall.view_recalltask"
VIEW_NODES_PERMISSION = "laaffic_recall.view_recallnode"
VIEW_ATTEMPTS_PERMISSION = "laaffic_recall.view_cancelattempt"


class Status(models.IntegerChoices):
    """Status of a recall task or node, as LAAFFIC reports it."""

    PENDING = 0, _("Pending")
    IN_PROGRESS = 1, _("In progress")
    COMPLETED = 2, _("Completed")
    CANCELLED = 3, _("Cancelled")
    EXCEPTION = 4, _("Execution exception")


TERMINAL_STATUSES = frozenset({Status.COMPLETED, Status.CANCELLED, Status.EXCEPTION})


def status_label(value: int | None) -> str:
    """A status in words, also one LAAFFIC has not documented or did not say."""
    if value is None:
        return gettext("in an unknown state")
    try:
        return str(Status(value).label)
    except ValueError:
        return gettext("in status %(value)s") % {"value": value}


class RecallType(models.IntegerChoices):
    ALL = 0, _("Recall all")
    FAILED_ONLY = 1, _("Recall failed calls only")


class CancelType(models.IntegerChoices):
    """The ``type`` of a LAAFFIC cancel request."""

    TASK = 1, _("Whole task (by recall key)")
    PARENT = 2, _("Whole task (by parent task id)")
    NODE = 3, _("From node onward")


class Outcome(models.TextChoices):
    """What became of a cancel attempt.

    ``failed`` means the cancel did not take effect: either nothing reached LAAFFIC
    (refused connection, DNS, connect timeout, TLS, a 4xx/429 answer), or an attempt
    whose outcome was unknown was later reconciled and LAAFFIC still showed the target
    not Cancelled. ``refused`` with no request body is a local refusal: nothing was sent
    because another cancel of the same task was in flight or in doubt, or the submitter
    may not see a task it would stop (``CancelAttempt.not_sent`` says which).
    """

    PENDING = "pending", _("Pending (in flight)")
    SKIPPED = "skipped", _("Skipped (nothing sent)")
    SUCCEEDED = "succeeded", _("Succeeded")
    REFUSED = "refused", _("Refused")
    FAILED = "failed", _("Failed (no effect)")
    UNKNOWN = "unknown", _("Unknown (may have reached LAAFFIC)")


class SettledBy(models.TextChoices):
    """What decided a cancel attempt's outcome."""

    ANSWER = "answer", _("LAAFFIC's answer")
    REREAD = "reread", _("a re-read right after")
    SYNC = "sync", _("a later sync")


class NotSent(models.TextChoices):
    """Why this app sent nothing to LAAFFIC for an attempt it refused or failed here."""

    IN_FLIGHT = "in_flight", _("another cancel of the task was in flight")
    IN_DOUBT = "in_doubt", _("the outcome of an earlier cancel of the task was unknown")
    HIDDEN = "hidden", _("the submitter may not see every task it would stop")
    UNREADABLE = "unreadable", _("LAAFFIC could not be read first")
    SETTINGS = "settings", _("the app's LAAFFIC settings are incomplete")
    BUDGET = "budget", _("the action ran out of time before this one")
    NOT_MIRRORED = "not_mirrored", _("the node is not in the local mirror")
    NO_TASKS = "no_tasks", _("LAAFFIC lists no recent recall task of the parent task id")


# Outcomes that may still be resolved; every other outcome is history and frozen.
OPEN_OUTCOMES = frozenset({Outcome.PENDING, Outcome.UNKNOWN})


class RecallTask(models.Model):
    """One LAAFFIC auto-recall task ("recall flow"). Mirrored fields are the vendor's truth."""

    key_id = models.BigIntegerField(_("recall key"), unique=True)
    parent_task_id = models.BigIntegerField(_("parent task id"), null=True, db_index=True)
    task_name = models.CharField(_("task name"), max_length=255, blank=True)
    created_at_remote = models.DateTimeField(_("created at LAAFFIC"), null=True, db_index=True)
    recall_type = models.SmallIntegerField(_("recall type"), choices=RecallType, null=True)
    recall_interval = models.IntegerField(_("interval (minutes)"), null=True)
    recall_num = models.IntegerField(_("rounds required"), null=True)
    finish_num = models.IntegerField(_("rounds done"), null=True)
    status = models.SmallIntegerField(_("status"), choices=Status, db_index=True)
    raw = models.JSONField(_("list record as received"), default=dict, blank=True)
    detail_raw = models.JSONField(_("detail as received"), null=True, blank=True)
    synced_at = models.DateTimeField(_("last sync"), default=timezone.now)
    detail_synced_at = models.DateTimeField(_("nodes synced"), null=True, blank=True)
    # Set when the mirror was updated by assumption after a cancel whose re-read failed.
    unconfirmed = models.BooleanField(
        _("unconfirmed"),
        default=False,
        help_text=_("Marked by assumption after a cancel; the next sync confirms it."),
    )

    # Set while a cancel of this task is in flight or its outcome is unknown, so that the
    # reconcile on each sync costs no query for the (many) tasks without one.
    cancel_in_doubt = models.BooleanField(
        _("cancel in doubt"),
        default=False,
        help_text=_(
            "A cancel of this task is in flight or its outcome is unknown; the next sync "
            "settles it."
        ),
    )

    class Meta:
        verbose_name = _("recall task")
        verbose_name_plural = _("recall tasks")
        ordering = ["-created_at_remote", "-key_id"]
        permissions = [("cancel_recalltask", _("Can cancel recall tasks"))]
        indexes = [
            # The overview counts the (few) unconfirmed tasks without reading the others.
            models.Index(
                fields=["unconfirmed"],
                condition=models.Q(unconfirmed=True),
                name="laaffic_task_unconfirmed",
            ),
            # The overview's tasks created today that will still call, from the index alone.
            models.Index(
                fields=["created_at_remote", "status"], name="laaffic_task_created_status"
            ),
        ]

    def __str__(self) -> str:
        # Shown in titles, breadcrumbs and messages: LAAFFIC's controls as visible escapes.
        name = f" {printable(self.task_name)}" if self.task_name else ""
        return f"#{self.key_id}{name}"

    @property
    def rounds_label(self) -> str:
        """Rounds done/required, "?" where LAAFFIC said nothing, e.g. "2/5" or "?/3"."""
        done = "?" if self.finish_num is None else self.finish_num
        required = "?" if self.recall_num is None else self.recall_num
        return f"{done}/{required}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_pending(self) -> bool:
        return self.status == Status.PENDING


class RecallNode(models.Model):
    """One node (recall round) of a task's ordered node list."""

    key_id = models.BigIntegerField(_("node key"), unique=True)
    task = models.ForeignKey(
        RecallTask, on_delete=models.CASCADE, related_name="nodes", verbose_name=_("task")
    )
    position = models.PositiveIntegerField(_("position"))
    group_task_id = models.BigIntegerField(_("group-call task id"), null=True, db_index=True)
    status = models.SmallIntegerField(_("status"), choices=Status, db_index=True)
    # Nullable: "no script" is distinct from an empty id in the vendor's data.
    script_id = models.CharField(_("script id"), max_length=64, null=True, blank=True)  # noqa: DJ001
    raw = models.JSONField(_("node as received"), default=dict, blank=True)
    synced_at = models.DateTimeField(_("last sync"), default=timezone.now)
    unconfirmed = models.BooleanField(_("unconfirmed"), default=False)

    class Meta:
        verbose_name = _("recall node")
        verbose_name_plural = _("recall nodes")
        ordering = ["task", "position"]
        indexes = [models.Index(fields=["task", "position"], name="laaffic_node_task_pos")]

    def __str__(self) -> str:
        return gettext("node #%(key)s (round %(round)s of task #%(task)s)") % {
            "key": self.key_id,
            "round": self.position + 1,
            "task": self.task.key_id,
        }

    @property
    def is_pending(self) -> bool:
        return self.status == Status.PENDING


class AppendOnlyError(Exception):
    """Raised on any attempt to alter or remove a finished audit record through the ORM."""


class BrokenSealError(AppendOnlyError):
    """An open audit row does not match its seal: the app leaves it as it is."""


# The links Django's deletion collector nulls (on_delete=SET_NULL) through the base manager.
SET_NULL_LINKS = frozenset({"user", "task", "node"})


class CancelAttemptQuerySet(models.QuerySet["CancelAttempt"]):
    """Refuses bulk changes; a single open row is resolved through ``CancelAttempt.save()``.

    Inserting is allowed (``create``, ``bulk_create`` without conflict handling, finished
    rows linked to the audit chain either way): the log only grows. ``update()``,
    ``delete()``, ``bulk_update()`` and upserts are refused.
    """

    # Only the base manager's queryset lets the deletion collector null the links.
    allows_set_null = False

    def update(self, **kwargs):
        if self.allows_set_null and _only_nulls_links(kwargs):
            return super().update(**kwargs)
        raise AppendOnlyError("Cancel attempts are append-only: bulk update() is refused.")

    def delete(self):
        raise AppendOnlyError("Cancel attempts are append-only: delete() is refused.")

    def _raw_delete(self, using):
        raise AppendOnlyError("Cancel attempts are append-only: delete() is refused.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("Cancel attempts are append-only: bulk_update() is refused.")

    def bulk_create(self, objs, *args, **kwargs):
        if kwargs.get("update_conflicts") or (len(args) > 2 and args[2]):
            raise AppendOnlyError(
                "Cancel attempts are append-only: bulk_create(update_conflicts=True) is refused."
            )
        objs = list(objs)
        for obj in objs:
            obj.clip_texts()
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            for obj in created:
                if obj.pk is not None:
                    obj._link(self.db, obj._as_stored())
        return created

    def stale(self):
        """Pending rows older than STALE_ATTEMPT_SECONDS: their worker most likely died."""
        return self.filter(outcome=Outcome.PENDING, started_at__lt=stale_cutoff())

    def unresolved(self):
        """Rows a re-read of their task may still settle: unknown, or stale pending."""
        return self.filter(
            models.Q(outcome=Outcome.UNKNOWN)
            | models.Q(outcome=Outcome.PENDING, started_at__lt=stale_cutoff())
        )

    def with_effective_outcome(self, outcome: str):
        """Rows whose outcome as shown is ``outcome`` (a stale pending row shows as unknown)."""
        if outcome == Outcome.UNKNOWN:
            return self.unresolved()
        if outcome == Outcome.PENDING:
            return self.filter(outcome=Outcome.PENDING, started_at__gte=stale_cutoff())
        return self.filter(outcome=outcome)


class CancelAttemptBaseQuerySet(CancelAttemptQuerySet):
    """The base manager's queryset: as strict, except that it lets Django's deletion
    collector set ``user``, ``task`` or ``node`` to NULL when that row is deleted."""

    allows_set_null = True


def _only_nulls_links(values: dict) -> bool:
    return (
        bool(values) and set(values) <= SET_NULL_LINKS and all(v is None for v in values.values())
    )


def stale_cutoff():
    return timezone.now() - timedelta(seconds=app_settings.STALE_ATTEMPT_SECONDS)


class CancelAttempt(models.Model):
    """One cancel attempt by a person, committed before the request leaves; append-only.

    A row is created ``pending`` (or directly ``skipped``/``refused`` when nothing is sent)
    and finished once. Rows in an open outcome (pending, unknown) may still be resolved;
    any other row cannot be saved again, and no row can be deleted through the ORM.
    """

    correlation_id = models.UUIDField(_("submission"), default=uuid.uuid4, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    username = models.CharField(_("username"), max_length=150, blank=True, db_index=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration = models.DurationField(_("duration"), null=True, blank=True)
    cancel_type = models.SmallIntegerField(_("cancel type"), choices=CancelType, db_index=True)
    target_id = models.BigIntegerField(_("id sent"), db_index=True)
    task = models.ForeignKey(
        RecallTask,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="cancel_attempts",
        verbose_name=_("task"),
    )
    task_key_id = models.BigIntegerField(_("task key"), null=True, blank=True, db_index=True)
    node = models.ForeignKey(
        RecallNode,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="cancel_attempts",
        verbose_name=_("node"),
    )
    request_body = models.JSONField(_("request body"), null=True, blank=True)
    http_status = models.SmallIntegerField(_("HTTP status"), null=True, blank=True)
    # 64-bit: an unknown vendor code may be any integer; one beyond 64 bits is kept in
    # error_detail instead (see fits_code()).
    response_code = models.BigIntegerField(_("response code"), null=True, blank=True, db_index=True)
    response_message = models.TextField(_("response message"), blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome, default=Outcome.PENDING, db_index=True
    )
    confirmed_by_reread = models.BooleanField(
        _("confirmed by re-read"),
        default=False,
        help_text=_(
            "The outcome was settled by re-reading the task from LAAFFIC after an unclear "
            "answer, not by the cancel's own answer."
        ),
    )
    # What LAAFFIC's first answer meant, and how the outcome was settled: by that answer,
    # by the re-read right after it, or by a later sync (at settled_at). Kept as values so
    # the row is worded in the reader's language.
    first_outcome = models.CharField(
        _("first answer"), max_length=16, choices=Outcome, blank=True, db_default=""
    )
    settled_by = models.CharField(
        _("settled by"), max_length=8, choices=SettledBy, blank=True, db_default=""
    )
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    # What LAAFFIC showed of the target when nothing was sent because it was not Pending.
    seen_status = models.SmallIntegerField(_("status seen"), choices=Status, null=True, blank=True)
    # Why this app sent nothing, when it refused or failed an attempt here, and the open
    # attempt that kept it from sending: worded when shown, in the reader's language.
    # error_detail then keeps only the error's own text (a failed read, the settings).
    not_sent = models.CharField(
        _("not sent because"), max_length=16, choices=NotSent, blank=True, db_default=""
    )
    blocked_by = models.BigIntegerField(_("blocked by attempt"), null=True, blank=True)
    error_detail = models.TextField(_("error detail"), blank=True)
    reason = models.TextField(_("reason"), blank=True)
    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    mirror_confirmed = models.BooleanField(
        _("mirror confirmed"),
        null=True,
        blank=True,
        help_text=_("Whether the local mirror was re-read from LAAFFIC after the cancel."),
    )
    # The row's seal while it is open, and its link in the audit chain, set once when its
    # outcome becomes final (see chain.py); all empty while no chain key is set.
    seal_mac = models.CharField(_("seal HMAC"), max_length=64, blank=True)
    chain_seq = models.BigIntegerField(_("chain link"), null=True, blank=True, unique=True)
    chain_mac = models.CharField(_("chain HMAC"), max_length=64, blank=True)

    objects = CancelAttemptQuerySet.as_manager()
    # Django uses the base manager for internal work (refresh_from_db, save's UPDATE, the
    # deletion collector's SET_NULL); its queryset refuses delete() and any other update.
    base_objects = models.Manager.from_queryset(CancelAttemptBaseQuerySet)()

    class Meta:
        verbose_name = _("cancel attempt")
        verbose_name_plural = _("cancel attempts")
        ordering = ["-started_at", "-id"]
        default_manager_name = "objects"
        base_manager_name = "base_objects"
        constraints = [
            # At most one attempt in flight per target, and per task whatever the cancel
            # type: enforced by the database, so it holds across web workers (a second
            # concurrent insert fails).
            models.UniqueConstraint(
                fields=["cancel_type", "target_id"],
                condition=models.Q(outcome="pending"),
                name="laaffic_one_inflight_cancel_per_target",
            ),
            models.UniqueConstraint(
                fields=["task_key_id"],
                condition=models.Q(outcome="pending"),
                name="laaffic_one_inflight_cancel_per_task",
            ),
        ]
        indexes = [
            models.Index(fields=["outcome", "started_at"], name="laaffic_attempt_outcome_time"),
            # The audit list filtered by code or user, newest first, read in index order.
            models.Index(fields=["response_code", "started_at"], name="laaffic_attempt_code_time"),
            models.Index(fields=["username", "started_at"], name="laaffic_attempt_user_time"),
        ]

    def __str__(self) -> str:
        return gettext("%(type)s %(target)s: %(outcome)s") % {
            "type": self.get_cancel_type_display(),
            "target": self.target_id,
            "outcome": self.get_outcome_display(),
        }

    def save(self, *args, **kwargs):
        """Insert a new row, or resolve a row that is still open (pending or unknown) once.

        The stored row is read under a row lock, so two processes finishing the same row
        cannot both write: the second finds it finished and is refused. With a chain key,
        an open row whose stored values do not match its seal is refused too
        (``BrokenSealError``, logged).
        """
        self.clip_texts()
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        if self.pk is None or kwargs.get("force_insert"):
            # No savepoint of its own: a failed INSERT fails the caller's transaction.
            with transaction.atomic(using=using, savepoint=False):
                super().save(*args, **kwargs)
                connection = transaction.get_connection(using)
                final = self.outcome not in OPEN_OUTCOMES and chain_key() is not None
                if final and connection.vendor == "postgresql":
                    # The checks of its foreign keys, deferred to COMMIT, take a share lock
                    # on the task it names: run them now, before the audit chain's lock,
                    # so that no writer of the chain waits for a row while holding it.
                    connection.check_constraints()
                self._link(using, self._as_stored())
            return
        # No savepoint of its own either: a refusal is raised once the block has ended,
        # having written nothing, so it leaves a caller's transaction usable.
        with transaction.atomic(using=using, savepoint=False):
            stored = (
                type(self)
                ._base_manager.using(using)
                .select_for_update()
                .filter(pk=self.pk)
                .values(*READ_FIELDS)
                .first()
            )
            if stored is None:
                super().save(*args, **kwargs)
                self._link(using, self._as_stored())
                return
            refusal = self._refusal(stored)
            if refusal is None:
                # The seal or link of the row as this UPDATE leaves it, written by it too.
                self.seal_mac = stored["seal_mac"]
                written = kwargs.get("update_fields")
                names = None if written is None else set(written)
                signed = self._sign(using, {**stored, **self._as_stored(names)})
                if written is not None:
                    kwargs["update_fields"] = sorted({*written, *signed})
                try:
                    super().save(*args, **kwargs)
                except BaseException:
                    self.chain_seq, self.chain_mac = None, ""
                    raise
        if refusal is not None:
            raise refusal

    def _as_stored(self, names: set[str] | None = None) -> dict:
        """The signed fields (all, or those among ``names``) as the database now holds
        them after this instance was written: what the verifier will read back."""
        values = {}
        for name in READ_FIELDS:
            if names is not None and name not in names:
                continue
            field = cast(models.Field, self._meta.get_field(name))
            value = getattr(self, field.attname)
            if isinstance(value, DatabaseDefault):  # not returned by the INSERT
                value = getattr(field.db_default, "value", field.db_default)
            value = field.get_prep_value(value)
            if isinstance(field, models.GenericIPAddressField):
                value = value or None  # a blank address is stored as NULL
            elif isinstance(value, datetime) and timezone.is_aware(value):
                value = value.astimezone(UTC)  # read back in UTC
            values[name] = value
        return values

    def _refusal(self, stored: dict) -> Exception | None:
        """Why the stored row may not be written (finished, or an open row whose stored
        values do not match its seal), or None."""
        if stored["outcome"] not in OPEN_OUTCOMES:
            return AppendOnlyError(
                f"Cancel attempt {self.pk} is finished ({stored['outcome']}) and cannot be changed."
            )
        key = chain_key()
        if key is not None and not seal_holds(key, stored):
            logger.error(
                "Cancel attempt %s does not match its seal: it was inserted or changed "
                "outside the app, so it is left as it is. Run laaffic_audit_verify.",
                self.pk,
            )
            return BrokenSealError(f"Cancel attempt {self.pk} does not match its seal.")
        return None

    @property
    def seal_intact(self) -> bool:
        """Whether an open row matches its seal (always, while no chain key is set)."""
        key = chain_key()
        values = {name: getattr(self, name) for name in READ_FIELDS}
        return key is None or self.outcome not in OPEN_OUTCOMES or seal_holds(key, values)

    def _link(self, using: str, values: dict) -> None:
        """Seal or link a row just inserted (its id is known only now), in its transaction."""
        signed = self._sign(using, values)
        if signed:
            rows = type(self)._base_manager.using(using).filter(pk=self.pk, chain_seq=None)
            models.QuerySet.update(rows, **{name: getattr(self, name) for name in signed})

    def _sign(self, using: str, values: dict) -> set[str]:
        """Seal a row that stays open; give one whose outcome is now final the next link
        of the audit chain; (the names of the columns set).

        ``values`` are the row as the database holds it once written (what the verifier
        will read). The link is decided under the chain's lock, in the transaction that
        writes it. Without a key the row stays unsealed and unchained.
        """
        key = chain_key()
        if key is None or self.chain_seq is not None:
            return set()
        if self.outcome in OPEN_OUTCOMES:
            self.seal_mac = seal_mac(key, values)
            return {"seal_mac"}
        lock_chain(transaction.get_connection(using))
        last = (
            type(self)
            ._base_manager.using(using)
            .filter(chain_seq__isnull=False)
            .order_by("-chain_seq")
            .values_list("chain_seq", "chain_mac")
            .first()
        )
        seq, prev = (last[0] + 1, last[1]) if last and last[0] is not None else (1, "")
        self.chain_seq, self.chain_mac = seq, link_mac(key, values, seq, prev)
        return {"chain_seq", "chain_mac"}

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Cancel attempts are append-only: delete() is refused.")

    def clip_texts(self) -> None:
        """Cut vendor messages, error details and the reason to ``TEXT_MAX`` characters."""
        for name in CLIPPED_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str) and len(value) > TEXT_MAX:
                setattr(self, name, value[:TEXT_MAX])

    @property
    def is_stale(self) -> bool:
        return self.outcome == Outcome.PENDING and self.started_at < stale_cutoff()

    @property
    def effective_outcome(self) -> str:
        """The outcome to show: a pending row left in flight too long is shown as unknown."""
        return Outcome.UNKNOWN if self.is_stale else self.outcome

    def get_effective_outcome_display(self) -> str:
        return str(Outcome(self.effective_outcome).label)


class AuditChainCheck(models.Model):
    """The result of one run of ``laaffic_audit_verify``, shown in the audit admin; MACed
    (``chain.check_mac``) and append-only.

    A later run compares the chain with the last good one: links removed from the chain's
    end, or replaced, and rows added or removed outside the chain.
    """

    checked_at = models.DateTimeField(_("checked at"), default=timezone.now)
    ok = models.BooleanField(_("verified"))
    links = models.BigIntegerField(_("links checked"), default=0)
    through_seq = models.BigIntegerField(_("verified up to link"), null=True, blank=True)
    through_row = models.BigIntegerField(_("verified up to row"), null=True, blank=True)
    through_mac = models.CharField(_("HMAC of the last link verified"), max_length=64, blank=True)
    unchained = models.BigIntegerField(_("rows written before a key was set"), default=0)
    problem_row = models.BigIntegerField(_("first row in question"), null=True, blank=True)
    problem = models.TextField(_("problem"), blank=True)
    mac = models.CharField(_("check HMAC"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("audit chain check")
        verbose_name_plural = _("audit chain checks")
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return f"{self.checked_at:%Y-%m-%d %H:%M:%S} {'ok' if self.ok else 'problem'}"


def fits_code(code: int | None) -> bool:
    """Whether a vendor code fits ``CancelAttempt.response_code`` (a signed 64-bit column)."""
    return code is None or fits_signed(code, 64)


class CancelSubmission(models.Model):
    """One confirmed cancel page, by the one-time token its form carried.

    The token is claimed before anything is sent, so a repeated POST of the same
    confirmation (a double click, a browser resend, back and resubmit) starts nothing and
    is told what became of the first: in progress, or its summary. Not an audit record
    (that is ``CancelAttempt``, joined by ``correlation_id``).
    """

    token = models.UUIDField(_("token"), unique=True, editable=False)
    correlation_id = models.UUIDField(_("correlation id"), default=uuid.uuid4, editable=False)
    username = models.CharField(_("username"), max_length=150, blank=True)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # What the agent was told, as values (admin/flow.py's Result): worded when shown.
    summary = models.JSONField(_("summary"), default=list, blank=True)
    level = models.CharField(_("level"), max_length=10, blank=True)

    class Meta:
        verbose_name = _("cancel submission")
        verbose_name_plural = _("cancel submissions")
        default_permissions = ()

    def __str__(self) -> str:
        return str(self.correlation_id)[:8]


class SyncTrigger(models.TextChoices):
    """What started a sync."""

    COMMAND = "command", _("Command")
    REFRESH = "refresh", _("Admin refresh")
    SCHEDULE = "schedule", _("Schedule")


class SyncRun(models.Model):
    """One sync, as it ran: written at its start and finished at its end by the sync
    itself, pruned to ``SYNC_RUNS_KEEP_DAYS`` days. Read-only in the admin."""

    started_at = models.DateTimeField(_("started"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    trigger = models.CharField(_("trigger"), max_length=16, choices=SyncTrigger)
    window_start = models.DateTimeField(_("window from"), null=True, blank=True)
    window_end = models.DateTimeField(_("window until"), null=True, blank=True)
    tasks_seen = models.PositiveIntegerField(_("tasks seen"), default=0)
    tasks_created = models.PositiveIntegerField(_("tasks created"), default=0)
    tasks_updated = models.PositiveIntegerField(_("tasks updated"), default=0)
    nodes_written = models.PositiveIntegerField(_("nodes written"), default=0)
    details_fetched = models.PositiveIntegerField(_("details read"), default=0)
    pages_fetched = models.PositiveIntegerField(_("pages read"), default=0)
    failure_count = models.PositiveIntegerField(_("failures"), default=0)
    failures = models.TextField(_("failures as text"), blank=True)
    # The error that ended the run early (configuration, refused signature, ...).
    error = models.TextField(_("error"), blank=True)
    # Set by ``laaffic_sync --every`` once the run is over: when it will sync again.
    next_due_at = models.DateTimeField(_("next sync due"), null=True, blank=True)

    class Meta:
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return gettext("Sync of %(when)s") % {"when": f"{self.started_at:%Y-%m-%d %H:%M:%S}"}

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None

    @property
    def ok(self) -> bool:
        """Finished, with no failure and no error."""
        return self.finished_at is not None and not self.failure_count and not self.error


class SyncLock(models.Model):
    """A lease that one sync at a time holds, so two schedulers never sync at once.

    Taken by an insert, or by a conditional update of an expired lease: both are atomic on
    every database Django supports, without row locks.
    """

    name = models.CharField(_("name"), max_length=64, primary_key=True)
    holder = models.CharField(_("holder"), max_length=200)
    acquired_at = models.DateTimeField(_("acquired"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))

    class Meta:
        verbose_name = _("sync lock")
        verbose_name_plural = _("sync locks")

    def __str__(self) -> str:
        return f"{self.name} ({self.holder})"
