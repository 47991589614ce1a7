"""``manage.py laaffic_audit_verify``: check that the cancel audit log was not altered."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ...client.errors import ConfigurationError
from ...verify import AnchorError, verify_chain
from ..base import TranslatedCommand


class Command(TranslatedCommand):
    help = gettext_lazy(
        "Walk the audit chain of the cancel attempts and report the first row or check "
        "that was changed, removed or inserted out of order; exits 1 when one is found. "
        "Prints an anchor line to keep outside the database for a later run's --anchor."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-record",
            action="store_true",
            help=_("Do not record this run (the audit admin shows the last one recorded)."),
        )
        parser.add_argument(
            "--anchor",
            metavar="LINE",
            help=_("Also check the chain against the anchor line an earlier run printed."),
        )
        parser.add_argument(
            "--anchor-file",
            metavar="PATH",
            type=Path,
            help=_(
                "Check against the last anchor in this file (if there is one) and, when "
                "the chain is intact, add the new anchor to its end."
            ),
        )

    def handle(
        self,
        *args,
        no_record: bool = False,
        anchor: str | None = None,
        anchor_file: Path | None = None,
        **options,
    ) -> None:
        if anchor is None and anchor_file is not None:
            anchor = _last_line(anchor_file)
        try:
            report = verify_chain(record=not no_record, anchor=anchor)
        except (ConfigurationError, AnchorError) as exc:
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
        if report.anchor is not None:
            line = report.anchor.line()
            self.stdout.write(line)
            if anchor_file is not None:
                with anchor_file.open("a", encoding="ascii") as out:
                    out.write(line + "\n")


def _last_line(path: Path) -> str | None:
    """The last non-blank line of ``path``; None when there is no such file yet."""
    try:
        lines = path.read_text(encoding="ascii").split("\n")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(
            _("The anchor file %(path)s cannot be read: %(error)s")
            % {"path": path, "error": type(exc).__name__}
        ) from None
    return next((line for line in reversed(lines) if line.strip()), None)
