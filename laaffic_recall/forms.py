"""Forms of the cancel confirmation pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

MAX_REASON = 1000
MAX_ID = 2**63 - 1


class CancelReasonForm(forms.Form):
    """The optional free-text reason stored with each attempt of a confirmed cancel."""

    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Optional: a ticket number or the customer's request. Kept in the audit log."),
    )


class ParentTaskForm(forms.Form):
    """A parent (group-call) task id typed by hand, e.g. one not mirrored yet."""

    parent_task_id = forms.IntegerField(
        label=_("Parent task id"),
        min_value=1,
        max_value=MAX_ID,
        help_text=_(
            "The id of the group-call task whose automatic recall should stop. It is looked "
            "up at LAAFFIC first; you confirm on the next page."
        ),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


class ParentCancelForm(ParentTaskForm, CancelReasonForm):
    """The confirmation of a cancel by parent task id: the id again, and the reason."""

    parent_task_id = forms.IntegerField(min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)
