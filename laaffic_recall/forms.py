"""Forms of the cancel confirmation pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .client.wire import MAX_ID, is_valid_id

MAX_REASON = 1000
MAX_ID_DIGITS = len(str(MAX_ID))  # 19
ID_EXAMPLE = "2026112600400"


class LaafficIdField(forms.CharField):
    """A LAAFFIC id typed by a person: digits only, at most 19 of them, positive and within
    64 bits. A leading "#" (as the admin shows ids) and surrounding spaces are accepted."""

    default_error_messages = {
        "required": _(
            "Enter the id: a positive whole number of at most %(digits)d digits, e.g. %(example)s."
        ),
        "invalid": _(
            "That is not an id: enter a positive whole number of at most %(digits)d digits, "
            "e.g. %(example)s."
        ),
        "too_large": _("That number is too large for a LAAFFIC id (at most %(max)d)."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"})
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        text = (super().to_python(value) or "").strip()
        if text.startswith("#"):
            text = text[1:].strip()
        if text in self.empty_values:
            return None
        params = {"digits": MAX_ID_DIGITS, "example": ID_EXAMPLE, "max": MAX_ID}
        if not (text.isascii() and text.isdigit()) or len(text) > MAX_ID_DIGITS:
            raise forms.ValidationError(self.error_messages["invalid"], "invalid", params)
        number = int(text)
        if number > MAX_ID:
            raise forms.ValidationError(self.error_messages["too_large"], "too_large", params)
        if not is_valid_id(number):
            raise forms.ValidationError(self.error_messages["invalid"], "invalid", params)
        return number

    def validate(self, value):
        if value in self.empty_values and self.required:
            raise forms.ValidationError(
                self.error_messages["required"],
                "required",
                {"digits": MAX_ID_DIGITS, "example": ID_EXAMPLE},
            )

    def run_validators(self, value):
        # CharField's length validators would see an int; the checks above are complete.
        return


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

    parent_task_id = LaafficIdField(
        label=_("Parent task id"),
        help_text=_(
            "The id of the group-call task whose automatic recall should stop, e.g. "
            "2026112600400. It is looked up at LAAFFIC first; you confirm on the next page."
        ),
    )


class ParentCancelForm(ParentTaskForm, CancelReasonForm):
    """The confirmation of a cancel by parent task id: the id again, and the reason."""

    parent_task_id = LaafficIdField(widget=forms.HiddenInput)
