"""The sandbox's own state: tasks and nodes as LAAFFIC would hold them, faults, a call log.

Independent of ``laaffic_recall.models`` on purpose: the sandbox plays the vendor, and a
stand-in that shared the client side's code could hide the client's mistakes.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Status(models.IntegerChoices):
    """Task and node status values of the vendor's API."""

    PENDING = 0, _("Pending")
    IN_PROGRESS = 1, _("In progress")
    COMPLETED = 2, _("Completed")
    CANCELLED = 3, _("Cancelled")
    EXCEPTION = 4, _("Execution exception")


TERMINAL = frozenset({Status.COMPLETED, Status.CANCELLED, Status.EXCEPTION})
# Nodes that may still run.
OPEN = frozenset({Status.PENDING, Status.IN_PROGRESS})


class SandboxTask(models.Model):
    """One auto-recall task ("recall flow") as the vendor stores it."""

    key_id = models.BigIntegerField(_("recall key (keyId)"), unique=True)
    task_id = models.BigIntegerField(_("parent task id (taskId)"), db_index=True)
    task_name = models.CharField(_("parent task name"), max_length=255)
    create_time = models.DateTimeField(_("created (createTime)"), db_index=True)
    recall_type = models.SmallIntegerField(
        _("recall type (recallType)"),
        choices=[(0, _("Recall all")), (1, _("Recall failed calls only"))],
    )
    recall_interval = models.IntegerField(_("interval in minutes (recallInterval)"))
    recall_num = models.IntegerField(_("rounds required (recallNum)"))
    finish_num = models.IntegerField(_("rounds done (finishNum)"), default=0)
    status = models.SmallIntegerField(_("status"), choices=Status, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("sandbox task")
        verbose_name_plural = _("sandbox tasks")
        ordering = ["-create_time", "-key_id"]

    def __str__(self) -> str:
        return f"#{self.key_id} {self.task_name}"


class SandboxNode(models.Model):
    """One node (recall round) of a sandbox task, in ``position`` order."""

    key_id = models.BigIntegerField(_("node key (keyId)"), unique=True)
    task = models.ForeignKey(
        SandboxTask, on_delete=models.CASCADE, related_name="nodes", verbose_name=_("task")
    )
    position = models.PositiveIntegerField(_("position"))
    group_task_id = models.BigIntegerField(_("group-call task id (taskId)"))
    status = models.SmallIntegerField(_("status (nodeStatus)"), choices=Status)
    # The vendor sends null for "no script"; an empty string would be a different answer.
    script_id = models.CharField(_("script id (scriptId)"), max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        verbose_name = _("sandbox node")
        verbose_name_plural = _("sandbox nodes")
        ordering = ["task", "position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "position"], name="laaffic_sandbox_node_pos")
        ]

    def __str__(self) -> str:
        return f"node #{self.key_id} (round {self.position + 1})"


class FaultKind(models.TextChoices):
    LATENCY = "latency", _("Latency (then a normal answer)")
    TIMEOUT = "timeout", _("Read timeout (no answer in time)")
    HTML_502 = "html_502", _("HTTP 502 with an HTML page")
    EMPTY = "empty", _("HTTP 200 with an empty body")
    CODE = "code", _("A non-zero code in a well-formed envelope")


class FaultWhen(models.TextChoices):
    AFTER = "after", _("After the call took effect (the answer is lost)")
    BEFORE = "before", _("Before the call takes effect (nothing changes)")


CALL_NAMES = ("queryPage", "queryDetail", "cancel")


class SandboxFault(models.Model):
    """A fault to inject, switchable while a demo or a browser test runs (any process)."""

    kind = models.CharField(_("kind"), max_length=16, choices=FaultKind)
    calls = models.CharField(
        _("calls"),
        max_length=64,
        blank=True,
        help_text=_("Comma-separated: queryPage, queryDetail, cancel. Empty: every call."),
    )
    ids = models.CharField(
        _("ids"),
        max_length=255,
        blank=True,
        help_text=_(
            "Comma-separated ids the request names (keyId of queryDetail, id of cancel, a "
            "numeric taskName of queryPage). Empty: every request."
        ),
    )
    seconds = models.FloatField(
        _("seconds"),
        null=True,
        blank=True,
        help_text=_("Latency, or how long a timeout holds the answer (default: TIMEOUT_SECONDS)."),
    )
    when = models.CharField(_("when"), max_length=8, choices=FaultWhen, default=FaultWhen.AFTER)
    code = models.IntegerField(_("code"), null=True, blank=True, help_text=_("For kind 'code'."))
    message = models.CharField(_("message"), max_length=255, blank=True)
    remaining = models.PositiveIntegerField(
        _("remaining"),
        null=True,
        blank=True,
        help_text=_("Fires this many more times, then stops. Empty: no limit."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("sandbox fault")
        verbose_name_plural = _("sandbox faults")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} [{self.calls or '*'}] [{self.ids or '*'}]"


class SandboxCall(models.Model):
    """One request the sandbox received and what it answered (the Sign is never kept)."""

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    family = models.CharField(_("family"), max_length=16)
    call = models.CharField(_("call"), max_length=16, db_index=True)
    body = models.JSONField(_("request body"), null=True, blank=True)
    http_status = models.SmallIntegerField(_("HTTP status"))
    code = models.IntegerField(_("code"), null=True, blank=True)
    message = models.CharField(_("message"), max_length=255, blank=True)
    fault = models.CharField(_("fault"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("sandbox call")
        verbose_name_plural = _("sandbox calls")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.call} {self.body} -> {self.code}"
