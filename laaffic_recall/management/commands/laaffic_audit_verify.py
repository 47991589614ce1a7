"""``manage.py laaffic_audit_verify``: check that the cancel audit log was not altered."""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ...client.errors import ConfigurationError
from ...verify import verify_chain
from ..base import TranslatedCommand


class Command(TranslatedCommand):
    help = gettext_lazy(
        "Walk the audit chain of the cancel attempts and report the first row that was "
        "changed, removed or inserted out of order; exits 1 when one is found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-record",
            action="store_true",
            help=_("Do not record this run (the audit admin shows the last one recorded)."),
        )

    def handle(self, *args, no_record: bool = False, **options) -> None:
        try:
            report = verify_chain(record=not no_record)
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        if report.through_seq:
            self.stdout.write(
                _("Verified %(links)s links, up to row %(row)s (link %(seq)s).")
                % {"links": report.links, "row": report.through_row, "seq": report.through_seq}
            )
        else:
            self.stdout.write(_("No verified link yet."))
        if report.unchained:
            self.stdout.write(
                _("%(count)s rows were written before a chain key was set: unchained.")
                % {"count": report.unchained}
            )
        if not report.ok:
            raise CommandError(report.problem, returncode=1)
        self.stdout.write(_("The audit chain is intact."))
