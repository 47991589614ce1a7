"""The base of the app's management commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandParser

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class TranslatedCommand(BaseCommand):
    """A command whose ``help`` may be a lazy translation.

    argparse formats only ``str``: the description is translated when the parser is made,
    in the language active then.
    """

    # Wider than BaseCommand's str: create_parser() turns it into one.
    help: StrOrPromise = ""  # type: ignore[assignment]

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.description = str(self.help) or None
        return parser
